// Fuzz target: the JSONL journal that --resume reads back (read_journal, nlohmann/json),
// with NB201 architectures in it. The file is never repaired here: a fuzzed journal is
// read, not cut.
#include <nas/report/journal_reader.hpp>
#include <nas/space/nb201_space.hpp>

#include "fuzz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string& path = nas_fuzz::as_file(data, size, ".jsonl");
  nas_fuzz::expect_only_typed_errors([&] { (void)nas::read_journal(path, nas::Nb201Space{}, {.repair = false}); });
  return 0;
}
