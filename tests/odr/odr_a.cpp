// Includes everything; linked with odr_b.cpp to prove the headers are ODR-safe.
#include <nas/nas.hpp>
#include <nas/testing.hpp>
int nas_odr_b();
int main() { return nas_odr_b() == 42 ? 0 : 1; }
