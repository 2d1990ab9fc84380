// Fashion-MNIST (Xiao, Rasul & Vollgraf 2017): locating and loading the four IDX files.
#pragma once

#include <array>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "nas/core/error.hpp"
#include "nas/data/dataset.hpp"
#include "nas/data/idx.hpp"

namespace nas {

/// The ten Fashion-MNIST classes, in label order.
inline std::vector<std::string> fashion_mnist_class_names() {
  return {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
}

/// Where Debian's package `dataset-fashion-mnist` installs the files.
inline constexpr std::string_view fashion_mnist_system_dir = "/usr/share/datasets/fashion-mnist";

namespace detail {

inline bool has_fashion_mnist_files(const std::filesystem::path& dir) {
  std::error_code ec;
  for (const char* stem : {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                           "t10k-labels-idx1-ubyte"}) {
    const auto base = dir / stem;
    if (!std::filesystem::exists(base.string() + ".gz", ec) && !std::filesystem::exists(base, ec)) return false;
  }
  return true;
}

/// `dir/stem.gz` if it exists, else `dir/stem` (the reader detects gzip by content anyway).
inline std::string fashion_mnist_file(const std::filesystem::path& dir, const char* stem) {
  std::error_code ec;
  const auto gz = (dir / stem).string() + ".gz";
  return std::filesystem::exists(gz, ec) ? gz : (dir / stem).string();
}

}  // namespace detail

/// The directory load_fashion_mnist() would read: `dir` if given, else the environment
/// variable NAS_FASHION_MNIST_DIR, else /usr/share/datasets/fashion-mnist. Returns an
/// empty string when none of them holds the four files.
inline std::string find_fashion_mnist(const std::string& dir = "") {
  if (!dir.empty()) return detail::has_fashion_mnist_files(dir) ? dir : std::string{};
  if (const char* env = std::getenv("NAS_FASHION_MNIST_DIR"); env && *env)
    return detail::has_fashion_mnist_files(env) ? std::string(env) : std::string{};
  const std::string sys(fashion_mnist_system_dir);
  return detail::has_fashion_mnist_files(sys) ? sys : std::string{};
}

/// Loads Fashion-MNIST: 60000 training and 10000 test images of 1x28x28 pixels in [0, 1],
/// labels 0..9 with class names. Looks in `dir`, else $NAS_FASHION_MNIST_DIR, else
/// /usr/share/datasets/fashion-mnist; files may be gzip-compressed (`*.gz`) or plain.
/// Throws DataError saying how to get the data when the files are not found.
inline TrainTest load_fashion_mnist(const std::string& dir = "") {
  const std::string found = find_fashion_mnist(dir);
  if (found.empty()) {
    std::string looked = "'";
    if (!dir.empty())
      looked.append(dir).append("'");
    else if (const char* env = std::getenv("NAS_FASHION_MNIST_DIR"); env && *env)
      looked.append(env).append("' (from NAS_FASHION_MNIST_DIR)");
    else
      looked.append(fashion_mnist_system_dir).append("'");
    throw DataError("load_fashion_mnist: the files train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
                    "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz were not found in " + looked +
                    "; install them with `sudo apt-get install dataset-fashion-mnist`, or pass their directory "
                    "(argument or NAS_FASHION_MNIST_DIR)");
  }
  const std::filesystem::path root(found);
  TrainTest out;
  out.train = load_idx(detail::fashion_mnist_file(root, "train-images-idx3-ubyte"),
                       detail::fashion_mnist_file(root, "train-labels-idx1-ubyte"), 10);
  out.test = load_idx(detail::fashion_mnist_file(root, "t10k-images-idx3-ubyte"),
                      detail::fashion_mnist_file(root, "t10k-labels-idx1-ubyte"), 10);
  out.train.class_names = fashion_mnist_class_names();
  out.test.class_names = out.train.class_names;
  return out;
}

}  // namespace nas
