// A user program built against nas as an installed package or a subdirectory.
#include <nas/nas.hpp>
#include <iostream>

int main() {
  nas::Rng rng(7);
  const auto a = rng.uniform_int(0, 9);
  std::cout << "nas consumer ok " << a << "\n";
  return 0;
}
