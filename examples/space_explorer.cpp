// Space explorer: how the combinatorics of a cell search space explode.
//
//   space_explorer                          # the seed's cell: 4 nodes x 5 ops
//   space_explorer --nodes 6 --ops conv3x3,skip,none --reduction
//
// Prints the choices of each node and the total for the given cell space, then the DARTS
// space and NAS-Bench-201 (with its isomorphism classes) for comparison.
#include <CLI/CLI.hpp>

#include <nas/estimate/nb201_table.hpp>
#include <nas/report/cli.hpp>
#include <nas/report/program.hpp>
#include <nas/space/cell_space.hpp>
#include <nas/space/nb201_space.hpp>

#include <cstdio>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

void print_space(const char* title, const nas::CellSpace& s) {
  std::printf("%s\n", title);
  const auto per_node = s.choices_per_node();
  for (std::size_t k = 0; k < per_node.size(); ++k) {
    const std::size_t inputs = s.num_inputs() + k;
    if (s.options().distinct_inputs)
      std::printf("  node %zu: C(%zu inputs, 2) x %zu ops^2 = %s choices\n", k, inputs, s.ops().size(),
                  per_node[k].to_string(true).c_str());
    else
      std::printf("  node %zu: (%zu inputs x %zu ops)^2 = %s choices\n", k, inputs, s.ops().size(),
                  per_node[k].to_string(true).c_str());
  }
  std::printf("  one cell: %s architectures\n", s.cell_size().to_string(true).c_str());
  if (s.has_reduction())
    std::printf("  normal + reduction cells: %s architectures (%.3g)\n", s.size().to_string(true).c_str(),
                s.size().to_double());
  else
    std::printf("  total: %s architectures\n", s.size().to_string(true).c_str());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Counts the architectures of a cell-based search space"};
  std::size_t nodes = 4;
  std::size_t inputs = 2;
  std::string ops = "conv3x3,conv5x5,maxpool,skip,none";
  bool reduction = false;
  bool distinct = false;
  app.add_option("--nodes", nodes, "intermediate nodes per cell (1 to 64)");
  app.add_option("--ops", ops, "comma-separated operation names");
  app.add_option("--inputs", inputs, "cell inputs (2: the two previous cells; 1 to 16)");
  app.add_flag("--reduction", reduction, "also search a reduction cell");
  app.add_flag("--distinct", distinct, "each node picks two different inputs, unordered (DARTS)");
  if (const auto status = nas::parse_command_line(app, argc, argv)) return *status;

  // A bad option (also one the space rejects, such as an unknown op) exits with status 2.
  return nas::run_program("space_explorer", [&] {
    nas::require_in_range("--nodes", nodes, std::size_t{1}, std::size_t{64});
    nas::require_in_range("--inputs", inputs, std::size_t{1}, std::size_t{16});
    const nas::CellSpace space({.nodes = nodes,
                                .ops = split_commas(ops),
                                .inputs = inputs,
                                .reduction = reduction,
                                .distinct_inputs = distinct});
    print_space("Cell space (each node picks 2 inputs and an op for each):", space);
    nas::Rng rng(42);
    std::printf("  a random member: %s\n\n", space.encode(space.sample(rng)).c_str());

    print_space("DARTS space (8 ops, 4 nodes, two distinct inputs per node):", nas::CellSpace::darts());

    const nas::Nb201Space nb201;
    std::printf("\nNAS-Bench-201: 6 edges x 5 ops = %s cells, %s isomorphism classes\n",
                nb201.size().to_string(true).c_str(),
                nas::SpaceSize(nas::Nb201Space::num_iso_classes()).to_string(true).c_str());
    try {
      const auto table = nas::Nb201Table::load_default();
      std::set<std::size_t> reps;
      for (const auto& r : table.records()) reps.insert(r.iso_rep);
      std::printf("  the table (%s) lists %s classes in its iso_rep column\n", table.path().c_str(),
                  nas::SpaceSize(reps.size()).to_string(true).c_str());
    } catch (const nas::DataError& e) {
      std::printf("  (table not found, class count from the code only: %s)\n", e.what());
    }
    return 0;
  });
}
