// save_network / load_network: a CellNetwork with its architecture, space, input, options and weights in one file.
#pragma once

#include <charconv>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

#include "nas/core/error.hpp"
#include "nas/model/cell_network.hpp"
#include "nas/space/cell_space.hpp"
#include "nas/space/nb201_space.hpp"
#include "nas/tensor/state.hpp"

namespace nas {

namespace detail {

inline const char* init_name(Init i) noexcept {
  switch (i) {
    case Init::torch_default: return "torch_default";
    case Init::kaiming_normal: return "kaiming_normal";
    case Init::kaiming_uniform: return "kaiming_uniform";
  }
  return "?";
}

// What fixes a space's networks, as metadata; load_network compares it key by key.
inline StateMetadata space_identity(const Nb201Space&) { return {{"space", "Nb201Space"}}; }
inline StateMetadata space_identity(const CellSpace& s) {
  std::string ops;
  for (const auto& name : s.ops()) {
    if (name.find(',') != std::string::npos)
      throw ConfigError("save_network: op name '" + name + "' contains a comma, which the file's op list separates with");
    ops += (ops.empty() ? "" : ",") + name;
  }
  return {{"space", "CellSpace"},
          {"space.ops", ops},
          {"space.nodes", std::to_string(s.num_nodes())},
          {"space.inputs", std::to_string(s.num_inputs())},
          {"space.reduction", s.has_reduction() ? "true" : "false"}};
}

class NetworkFileReader {
 public:
  explicit NetworkFileReader(const StateFile& f) : f_(f) {}
  [[nodiscard]] const std::string& text(const std::string& key) const {
    const auto it = f_.metadata.find(key);
    if (it == f_.metadata.end())
      throw DataError("load_network: " + f_.path + ": no metadata entry '" + key + "' (not written by save_network?)");
    return it->second;
  }
  template <class Int = long long>
  [[nodiscard]] Int integer(const std::string& key) const {
    const std::string& v = text(key);
    Int out = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
    if (ec != std::errc() || end != v.data() + v.size())
      throw DataError("load_network: " + f_.path + ": metadata '" + key + "' is '" + v + "' (expected an integer)");
    return out;
  }
  [[nodiscard]] int int32(const std::string& key) const {
    const auto v = integer<long long>(key);
    if (v < -2147483647LL || v > 2147483647LL)
      throw DataError("load_network: " + f_.path + ": metadata '" + key + "' (" + std::to_string(v) + ") is out of range");
    return static_cast<int>(v);
  }

 private:
  const StateFile& f_;
};

template <class Space>
const char* network_kind() {
  if constexpr (std::is_same_v<Space, Nb201Space>)
    return "CellNetwork<Nb201Space>";
  else
    return "CellNetwork<CellSpace>";
}

}  // namespace detail

/// Writes `net` to `path` (a .nasstate file, see state.hpp): every parameter and buffer,
/// and as metadata the network kind ("network"), the architecture in the space's encoding
/// ("arch"), the space's identity ("space", and for a CellSpace "space.ops",
/// "space.nodes", "space.inputs", "space.reduction"), the NetworkInput ("input.*") and
/// the NetworkOptions ("options.*"), plus the caller's `extra` entries (their keys must
/// not be one of those). Written through a temporary file renamed into place.
template <class Space>
  requires std::is_same_v<Space, Nb201Space> || std::is_same_v<Space, CellSpace>
void save_network(const std::string& path, const Space& space, CellNetwork<Space>& net, const StateMetadata& extra = {}) {
  StateMetadata meta = detail::space_identity(space);
  meta["network"] = detail::network_kind<Space>();
  meta["arch"] = space.encode(net.arch());
  const NetworkInput& in = net.input();
  meta["input.channels"] = std::to_string(in.channels);
  meta["input.height"] = std::to_string(in.height);
  meta["input.width"] = std::to_string(in.width);
  meta["input.classes"] = std::to_string(in.classes);
  const NetworkOptions& o = net.options();
  meta["options.channels"] = std::to_string(o.channels);
  meta["options.cells"] = std::to_string(o.cells);
  meta["options.stem_multiplier"] = std::to_string(o.stem_multiplier);
  meta["options.seed"] = std::to_string(o.seed);
  meta["options.init"] = detail::init_name(o.init);
  for (const auto& [k, v] : extra)
    if (!meta.emplace(k, v).second)
      throw ConfigError("save_network: extra metadata key '" + k + "' is one save_network writes itself");
  save_state(path, net, meta);
}

/// Rebuilds the network saved by save_network into `space` and loads its weights and
/// buffers. Throws ConfigError when the file's network kind or space differs from
/// `space` (saying which property: op names, node or input count, reduction cell);
/// DataError naming the file for a missing, truncated or corrupt file or missing
/// metadata; ParseError for an architecture `space` cannot decode.
template <class Space>
  requires std::is_same_v<Space, Nb201Space> || std::is_same_v<Space, CellSpace>
[[nodiscard]] std::unique_ptr<CellNetwork<Space>> load_network(const std::string& path, const Space& space) {
  const StateFile f = read_state_file(path);
  const detail::NetworkFileReader r(f);
  const std::string where = "load_network: " + path;
  if (r.text("network") != detail::network_kind<Space>())
    throw ConfigError(where + ": the file holds a " + r.text("network") + ", not a " + detail::network_kind<Space>());
  for (const auto& [key, want] : detail::space_identity(space)) {
    const std::string& got = r.text(key);
    if (got != want)
      throw ConfigError(where + ": the file's space has " + key + " = '" + got + "', this space has '" + want + "'");
  }
  const typename Space::Arch arch = space.decode(r.text("arch"));
  NetworkInput in;
  in.channels = r.int32("input.channels");
  in.height = r.int32("input.height");
  in.width = r.int32("input.width");
  in.classes = r.int32("input.classes");
  NetworkOptions o;
  o.channels = r.int32("options.channels");
  o.cells = r.int32("options.cells");
  o.stem_multiplier = r.int32("options.stem_multiplier");
  o.seed = r.integer<std::uint64_t>("options.seed");
  const std::string& init = r.text("options.init");
  bool known = false;
  for (Init i : {Init::torch_default, Init::kaiming_normal, Init::kaiming_uniform})
    if (init == detail::init_name(i)) {
      o.init = i;
      known = true;
    }
  if (!known) throw DataError(where + ": metadata 'options.init' is '" + init + "' (not an Init)");
  auto net = make_network(space, arch, in, o);
  load_state(f, *net);
  return net;
}

}  // namespace nas
