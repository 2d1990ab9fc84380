// Writes the seed corpus of the fuzz targets (fuzz/corpus/<target>/): small valid inputs of
// every format, made by the library's own writers so that the seeds stay true to them.
// Usage: make_corpus <fuzz/corpus> <data/nb201>   (run by scripts/fuzz --seeds)
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <nas/data/read_file.hpp>
#include <nas/estimate/function.hpp>
#include <nas/exec/driver.hpp>
#include <nas/exec/serial.hpp>
#include <nas/hw/latency_table.hpp>
#include <nas/model/save.hpp>
#include <nas/report/journal.hpp>
#include <nas/search/random_search.hpp>
#include <nas/space/chain_space.hpp>
#include <nas/tensor/npy.hpp>

namespace fs = std::filesystem;

namespace {
void write(const fs::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary) << bytes;
}
std::string gzip(const std::string& text) {
  uLongf n = compressBound(static_cast<uLong>(text.size())) + 32;
  std::string out(n, '\0');
  z_stream z{};
  deflateInit2(&z, 9, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);  // 31: gzip wrapper
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  z.avail_in = static_cast<uInt>(text.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}
std::string head_lines(const std::string& text, int lines) {
  std::size_t at = 0;
  for (int i = 0; i < lines && at != std::string::npos; ++i) at = text.find('\n', at + 1);
  return text.substr(0, at == std::string::npos ? text.size() : at + 1);
}
std::string be32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: make_corpus <fuzz/corpus> <data/nb201>\n");
    return 2;
  }
  const fs::path out = argv[1], data = argv[2];
  for (const char* t : {"nb201_arch", "darts_genotype", "chain_arch", "tables", "latency_table", "idx", "npy", "nasstate",
                        "journal", "options"}) fs::create_directories(out / t);

  nas::Rng rng(1);
  const nas::Nb201Space nb201;
  const nas::CellSpace darts = nas::CellSpace::darts();
  const nas::ChainSpace chain;
  for (int i = 0; i < 4; ++i) {
    write(out / "nb201_arch" / ("arch_" + std::to_string(i)), nb201.encode(nb201.sample(rng)));
    write(out / "darts_genotype" / ("genotype_" + std::to_string(i)), darts.encode(darts.sample(rng)));
  }
  nas::Rng chain_rng(2);  // its own stream: the other seeds stay as they were
  for (int i = 0; i < 4; ++i)
    write(out / "chain_arch" / ("chain_" + std::to_string(i)), chain.encode(chain.sample(chain_rng)));

  // A latency table of the smallest NB201 network (C = 1, N = 1, 4x4 input), as profiled.
  const auto latency = nas::LatencyTable::profile(nb201, nas::NetworkInput{1, 4, 4, 2}, nas::NetworkOptions{.channels = 1, .cells = 1},
                                                  {.warmup = 0, .rounds = 1, .repeats = 1, .min_sample_ms = 0.0});
  write(out / "latency_table" / "nb201_c1.csv", latency.to_csv());

  // Options as key=value lines: a default REA, Hyperband with a ladder, and a refused one.
  write(out / "options" / "rea", "strategy=rea\npopulation=10\nsample=3\nevaluations=50\n");
  write(out / "options" / "hyperband", "strategy=hyperband\neta=3\nrung=1\nrung=3\nrung=9\nnoise=0.1\ncost_seconds=100\n");
  write(out / "options" / "bad_sample", "strategy=rea\npopulation=4\nsample=9\nmembers=2\nfinal_epochs=3\n");

  // Tables: a selector byte (0 accuracies, 1 latencies, 2 zero-cost scores), then the head
  // of the real table, plain and gzip-compressed.
  const char* tables[] = {"nb201.csv.gz", "hw_latency.csv.gz", "zc_naslib_subset.csv.gz"};
  for (int k = 0; k < 3; ++k) {
    const std::string text = nas::read_file_bytes<std::string>((data / tables[k]).string(), "make_corpus");
    const std::string head = head_lines(text, 4);
    write(out / "tables" / ("plain_" + std::to_string(k)), std::string(1, static_cast<char>(k)) + head);
    write(out / "tables" / ("gzip_" + std::to_string(k)), std::string(1, static_cast<char>(k)) + gzip(head));
  }

  // IDX: a 2-image 4x4 file and a 3-label file, plain and gzip.
  std::string images = be32(0x803) + be32(2) + be32(4) + be32(4);
  for (int i = 0; i < 32; ++i) images.push_back(static_cast<char>(i * 8));
  const std::string labels = be32(0x801) + be32(3) + std::string{0, 5, 9};
  write(out / "idx" / "images", images);
  write(out / "idx" / "labels", labels);
  write(out / "idx" / "images_gz", gzip(images));

  nas::Tensor t({2, 3});
  for (std::size_t i = 0; i < t.numel(); ++i) t[i] = 0.5f * static_cast<float>(i);
  nas::save_npy((out / "npy" / "tensor_2x3.npy").string(), t);

  // A saved NB201 network, as small as the format allows (C = 1, N = 1, 2 classes, 4x4).
  const nas::Nb201Arch arch = nb201.sample(rng);
  auto net = nas::make_network(nb201, arch, nas::NetworkInput{1, 4, 4, 2}, nas::NetworkOptions{.channels = 1, .cells = 1});
  nas::save_network((out / "nasstate" / "nb201_c1.nasstate").string(), nb201, *net);
  // A journal of four NB201 trials, those with none~2 failed, as a search writes it.
  {
    auto journal = nas::make_journal((out / "journal" / "four_trials.jsonl").string(), nb201);
    journal.write_run(R"({"strategy":"rs","seed":3})");
    nas::FunctionEstimator<nas::Nb201Arch> est([](const nas::Nb201Arch& a) {
      if (a.ops[5] == 0) throw nas::DataError("an evaluation that failed");
      return static_cast<double>(a.ops[1]);
    });
    auto state = nas::RandomSearch({.seed = 3}).start(nb201);
    nas::Serial serial;
    (void)nas::drive(state, est, serial, nas::Budget{.evaluations = 4}, {}, journal);
  }
  std::printf("seed corpus written to %s\n", out.string().c_str());
  return 0;
}
