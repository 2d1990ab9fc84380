// export_pytorch(): a NetworkGraph written as a self-contained torch.nn module plus its weights.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "nas/core/error.hpp"
#include "nas/tensor/tensor.hpp"
#include "nas/tensor/trace.hpp"

namespace nas {

/// A named tensor of a tensor file.
struct NamedTensor {
  std::string name;
  Tensor tensor;
};

namespace detail {
inline constexpr char tensor_file_magic[9] = "NASTENS1";
}  // namespace detail

/// Writes `tensors` to `path` in nas's tensor file format, which Python reads with the
/// standard library and torch alone (the exported module's load_tensors()):
/// the 8 bytes "NASTENS1", the header length in bytes as a little-endian uint64, a text
/// header of one line per tensor, "<name> <rank> <dim>... <offset>" (offset in floats from
/// the start of the data), then the data as little-endian float32. Names hold no spaces.
inline void write_tensor_file(const std::filesystem::path& path, const std::vector<NamedTensor>& tensors) {
  std::string header;
  std::size_t offset = 0;
  for (const auto& t : tensors) {
    if (t.name.empty() || t.name.find_first_of(" \n\t") != std::string::npos)
      throw ConfigError("write_tensor_file: tensor name '" + t.name + "' is empty or holds white space");
    // Appended piece by piece: GCC 12 warns falsely (-Wrestrict) on " " + std::string.
    header += t.name;
    header += ' ';
    header += std::to_string(t.tensor.rank());
    for (int d = 0; d < t.tensor.rank(); ++d) {
      header += ' ';
      header += std::to_string(t.tensor.dim(d));
    }
    header += ' ';
    header += std::to_string(offset);
    header += '\n';
    offset += t.tensor.numel();
  }
  std::ofstream f(path, std::ios::binary);
  if (!f) throw ConfigError("write_tensor_file: cannot open '" + path.string() + "' for writing");
  f.write(detail::tensor_file_magic, 8);
  const auto len = static_cast<std::uint64_t>(header.size());
  unsigned char lb[8];
  for (int i = 0; i < 8; ++i) lb[i] = static_cast<unsigned char>((len >> (8 * i)) & 0xffu);
  f.write(reinterpret_cast<const char*>(lb), 8);
  f.write(header.data(), static_cast<std::streamsize>(header.size()));
  for (const auto& t : tensors)
    f.write(reinterpret_cast<const char*>(t.tensor.data()), static_cast<std::streamsize>(t.tensor.numel() * sizeof(float)));
  if (!f) throw ConfigError("write_tensor_file: writing '" + path.string() + "' failed");
}

/// Reads a file written by write_tensor_file (throws ParseError naming the file and what is wrong).
[[nodiscard]] inline std::vector<NamedTensor> read_tensor_file(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw ParseError("read_tensor_file: cannot open '" + path.string() + "'");
  char magic[8];
  unsigned char lb[8];
  if (!f.read(magic, 8) || std::string(magic, 8) != detail::tensor_file_magic)
    throw ParseError("read_tensor_file: '" + path.string() + "' does not start with NASTENS1");
  if (!f.read(reinterpret_cast<char*>(lb), 8)) throw ParseError("read_tensor_file: '" + path.string() + "' is truncated");
  std::uint64_t len = 0;
  for (int i = 0; i < 8; ++i) len |= static_cast<std::uint64_t>(lb[i]) << (8 * i);
  std::string header(len, '\0');
  if (!f.read(header.data(), static_cast<std::streamsize>(len)))
    throw ParseError("read_tensor_file: '" + path.string() + "' is truncated in its header");
  std::vector<NamedTensor> out;
  std::istringstream lines(header);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream ls(line);
    NamedTensor t;
    int rank = 0;
    std::size_t offset = 0;
    ls >> t.name >> rank;
    if (!ls || rank < 1 || rank > Shape::max_rank) throw ParseError("read_tensor_file: bad header line '" + line + "'");
    int d[Shape::max_rank] = {};
    for (int i = 0; i < rank; ++i) ls >> d[i];
    ls >> offset;
    if (!ls) throw ParseError("read_tensor_file: bad header line '" + line + "'");
    const Shape s = rank == 1 ? Shape{d[0]} : rank == 2 ? Shape{d[0], d[1]} : rank == 3 ? Shape{d[0], d[1], d[2]} : Shape{d[0], d[1], d[2], d[3]};
    t.tensor = Tensor(s);
    if (!f.read(reinterpret_cast<char*>(t.tensor.data()), static_cast<std::streamsize>(t.tensor.numel() * sizeof(float))))
      throw ParseError("read_tensor_file: '" + path.string() + "' is truncated in tensor '" + t.name + "'");
    out.push_back(std::move(t));
  }
  return out;
}

struct ExportOptions {
  std::string class_name = "Network";
  /// Where the weights go; empty: next to the Python file, its name with ".weights".
  std::filesystem::path weights_file;
};

namespace detail {
inline std::string py_bool(bool b) { return b ? "True" : "False"; }
inline std::string py_float(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}
// The torch module name of a node's module: nas's path ("module" for one at the root).
inline std::string torch_path(const GraphNode& n) { return n.path.empty() ? "module" : n.path; }
}  // namespace detail

/// Writes `py_file`, a Python module defining `class Network(torch.nn.Module)` that
/// computes the graph with plain torch.nn layers (nn.Conv2d, nn.BatchNorm2d, nn.Linear,
/// nn.AvgPool2d, nn.MaxPool2d, nn.ReLU, ...) and a forward() that follows the graph node
/// by node, and the weights file its load() reads: the parameters and BatchNorm running
/// statistics as they are now, under state_dict names equal to nas's parameter paths
/// ("body.2.edges.5.1.weight"; a module at the root is named "module"). The Python needs
/// only torch and the standard library. Returns the weights file's path.
/// The graph's spatial sizes are fixed where the graph holds constants (zero nodes); the
/// batch size is free.
inline std::filesystem::path export_pytorch(const NetworkGraph& g, const std::filesystem::path& py_file,
                                            const ExportOptions& o = {}) {
  using detail::py_bool;
  using detail::py_float;
  const std::filesystem::path weights =
      o.weights_file.empty() ? std::filesystem::path(py_file).replace_extension(".weights") : o.weights_file;
  std::vector<NamedTensor> tensors;
  std::ostringstream init, fwd;
  std::set<std::string> made;
  auto v = [](int id) { return "v" + std::to_string(id); };
  for (std::size_t i = 1; i < g.nodes.size(); ++i) {
    const GraphNode& n = g.nodes[i];
    const std::string out = v(static_cast<int>(i));
    const std::string x = n.inputs.empty() ? "" : v(n.inputs[0]);
    const std::string op = "self.op" + std::to_string(i);
    // A module with parameters, made once per path (the state_dict's names).
    auto leaf = [&](const std::string& ctor) {
      const std::string path = detail::torch_path(n);
      if (made.insert(path).second) {
        init << "        self._put(\"" << path << "\", " << ctor << ")\n";
        for (Parameter* p : {n.weight, n.bias})
          if (p) tensors.push_back({path + "." + p->name, p->value});
        if (n.kind == NodeKind::batch_norm2d && n.bn.running_mean) {
          tensors.push_back({path + ".running_mean", *n.bn.running_mean});
          tensors.push_back({path + ".running_var", *n.bn.running_var});
        }
      }
      return "L[\"" + path + "\"]";
    };
    auto stateless = [&](const std::string& ctor) {
      init << "        " << op << " = " << ctor << "\n";
      return op;
    };
    switch (n.kind) {
      case NodeKind::input: break;
      case NodeKind::conv2d: {
        const ConvGeometry& c = n.conv;
        const std::string m = leaf("nn.Conv2d(" + std::to_string(c.in_channels) + ", " + std::to_string(c.out_channels) +
                                   ", kernel_size=(" + std::to_string(c.kernel_h) + ", " + std::to_string(c.kernel_w) +
                                   "), stride=(" + std::to_string(c.stride_h) + ", " + std::to_string(c.stride_w) +
                                   "), padding=(" + std::to_string(c.pad_h) + ", " + std::to_string(c.pad_w) +
                                   "), dilation=(" + std::to_string(c.dilation_h) + ", " + std::to_string(c.dilation_w) +
                                   "), groups=" + std::to_string(c.groups) + ", bias=" + py_bool(c.bias) + ")");
        fwd << "        " << out << " = " << m << "(" << x << ")\n";
        break;
      }
      case NodeKind::batch_norm2d: {
        const BatchNormGeometry& b = n.bn;
        const std::string m = leaf("nn.BatchNorm2d(" + std::to_string(b.channels) + ", eps=" + py_float(b.eps) +
                                   ", momentum=" + py_float(b.momentum) + ", affine=" + py_bool(b.affine) +
                                   ", track_running_stats=" + py_bool(b.track_running_stats) + ")");
        fwd << "        " << out << " = " << m << "(" << x << ")\n";
        break;
      }
      case NodeKind::linear: {
        const LinearGeometry& l = n.linear;
        const std::string m = leaf("nn.Linear(" + std::to_string(l.in_features) + ", " + std::to_string(l.out_features) +
                                   ", bias=" + py_bool(l.bias) + ")");
        fwd << "        " << out << " = " << m << "(torch.flatten(" << x << ", 1))\n";
        break;
      }
      case NodeKind::relu: fwd << "        " << out << " = " << stateless("nn.ReLU()") << "(" << x << ")\n"; break;
      case NodeKind::silu: fwd << "        " << out << " = " << stateless("nn.SiLU()") << "(" << x << ")\n"; break;
      case NodeKind::sigmoid: fwd << "        " << out << " = torch.sigmoid(" << x << ")\n"; break;
      case NodeKind::channel_scale:
        fwd << "        " << out << " = " << x << " * " << v(n.inputs[1]) << "[:, :, None, None]\n";
        break;
      case NodeKind::dropout:
        fwd << "        " << out << " = " << stateless("nn.Dropout(" + py_float(n.p) + ")") << "(" << x << ")\n";
        break;
      case NodeKind::avg_pool2d:
        fwd << "        " << out << " = "
            << stateless("nn.AvgPool2d(" + std::to_string(n.pool.kernel) + ", stride=" + std::to_string(n.pool.stride) +
                         ", padding=" + std::to_string(n.pool.padding) +
                         ", count_include_pad=" + py_bool(n.pool.count_include_pad) + ")")
            << "(" << x << ")\n";
        break;
      case NodeKind::max_pool2d:
        fwd << "        " << out << " = "
            << stateless("nn.MaxPool2d(" + std::to_string(n.pool.kernel) + ", stride=" + std::to_string(n.pool.stride) +
                         ", padding=" + std::to_string(n.pool.padding) + ")")
            << "(" << x << ")\n";
        break;
      case NodeKind::global_avg_pool:
        fwd << "        " << out << " = torch.flatten(F.adaptive_avg_pool2d(" << x << ", 1), 1)\n";
        break;
      case NodeKind::add: {
        fwd << "        " << out << " = " << x;
        for (std::size_t k = 1; k < n.inputs.size(); ++k) fwd << " + " << v(n.inputs[k]);
        fwd << "\n";
        break;
      }
      case NodeKind::concat: {
        fwd << "        " << out << " = torch.cat([";
        for (std::size_t k = 0; k < n.inputs.size(); ++k) fwd << (k ? ", " : "") << v(n.inputs[k]);
        fwd << "], dim=1)\n";
        break;
      }
      case NodeKind::zero: {
        fwd << "        " << out << " = " << x << ".new_zeros((" << x << ".shape[0]";
        for (int d = 1; d < n.shape.rank(); ++d) fwd << ", " << n.shape[d];
        fwd << "))\n";
        break;
      }
      case NodeKind::identity: fwd << "        " << out << " = " << x << "\n"; break;
      case NodeKind::shift: fwd << "        " << out << " = F.pad(" << x << "[:, :, 1:, 1:], (0, 1, 0, 1))\n"; break;
      case NodeKind::flatten: fwd << "        " << out << " = torch.flatten(" << x << ", 1)\n"; break;
    }
  }
  std::ofstream py(py_file);
  if (!py) throw ConfigError("export_pytorch: cannot open '" + py_file.string() + "' for writing");
  py << "# " << o.class_name << ": a network exported by nas (export_pytorch), " << g.nodes.size() - 1
     << " ops, traced for the input " << g.input_shape().str() << ".\n"
     << "# Needs only torch and the standard library. state_dict names are nas's parameter paths.\n"
     << "import os\nimport struct\n\nimport torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n"
     << "WEIGHTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), \"" << weights.filename().string() << "\")\n"
     << "INPUT_SHAPE = (";
  for (int d = 0; d < g.input_shape().rank(); ++d) py << (d ? ", " : "") << g.input_shape()[d];
  py << ")\n\n\n"
     << "def load_tensors(path):\n"
     << "    \"\"\"Reads a nas tensor file: {name: float32 tensor}.\"\"\"\n"
     << "    with open(path, \"rb\") as f:\n"
     << "        data = f.read()\n"
     << "    if data[:8] != b\"NASTENS1\":\n"
     << "        raise ValueError(path + \" is not a nas tensor file\")\n"
     << "    (length,) = struct.unpack_from(\"<Q\", data, 8)\n"
     << "    base = 16 + length\n"
     << "    out = {}\n"
     << "    for line in data[16:base].decode(\"utf-8\").splitlines():\n"
     << "        parts = line.split()\n"
     << "        rank = int(parts[1])\n"
     << "        shape = [int(d) for d in parts[2:2 + rank]]\n"
     << "        offset = int(parts[2 + rank])\n"
     << "        count = 1\n"
     << "        for d in shape:\n"
     << "            count *= d\n"
     << "        start = base + 4 * offset\n"
     << "        chunk = bytearray(data[start:start + 4 * count])\n"
     << "        out[parts[0]] = torch.frombuffer(chunk, dtype=torch.float32).reshape(shape).clone()\n"
     << "    return out\n\n\n"
     << "class " << o.class_name << "(nn.Module):\n"
     << "    def __init__(self):\n"
     << "        super().__init__()\n"
     << "        self._leaf = {}\n"
     << init.str() << "\n"
     << "    def _put(self, path, module):\n"
     << "        \"\"\"Registers `module` under the dotted `path`, making empty containers on the way.\"\"\"\n"
     << "        *parents, name = path.split(\".\")\n"
     << "        owner = self\n"
     << "        for p in parents:\n"
     << "            if p not in owner._modules:\n"
     << "                owner.add_module(p, nn.Module())\n"
     << "            owner = owner._modules[p]\n"
     << "        owner.add_module(name, module)\n"
     << "        self._leaf[path] = module\n\n"
     << "    def forward(self, x):\n"
     << "        L = self._leaf\n"
     << "        v0 = x\n"
     << fwd.str() << "        return v" << g.output << "\n\n\n"
     << "def load(weights=WEIGHTS):\n"
     << "    \"\"\"The network with the exported weights and BatchNorm running statistics.\"\"\"\n"
     << "    model = " << o.class_name << "()\n"
     << "    missing, unexpected = model.load_state_dict(load_tensors(weights), strict=False)\n"
     << "    missing = [k for k in missing if not k.endswith(\"num_batches_tracked\")]\n"
     << "    if missing or unexpected:\n"
     << "        raise RuntimeError(\"weights do not fit: missing %s, unexpected %s\" % (missing, unexpected))\n"
     << "    return model\n";
  if (!py) throw ConfigError("export_pytorch: writing '" + py_file.string() + "' failed");
  write_tensor_file(weights, tensors);
  return weights;
}

}  // namespace nas
