// Second translation unit including everything (see odr_a.cpp).
#include <nas/nas.hpp>
int nas_odr_b() { return 42; }
