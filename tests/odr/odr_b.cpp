// Second translation unit including everything (see odr_a.cpp).
#include <nas/nas.hpp>
#include <nas/testing.hpp>
int nas_odr_b() { return 42; }
