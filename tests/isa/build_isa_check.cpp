// Built into each narrower-ISA copy of the kernel tests (tests/CMakeLists.txt): proves that
// the copy really compiled the code path it stands for, so that its passing tests say
// something about that path and not about the machine's widest one.
#include <catch2/catch.hpp>

#include <nas/hw/latency_table.hpp>

#include <string>

#ifndef NAS_EXPECTED_BUILD_ISA
#error "NAS_EXPECTED_BUILD_ISA names the instruction set this copy must be compiled for"
#endif

TEST_CASE("this copy of the kernel tests is compiled for the instruction set it stands for", "[isa]") {
  CHECK(nas::MachineInfo::this_machine().build_isa == std::string(NAS_EXPECTED_BUILD_ISA));
}
