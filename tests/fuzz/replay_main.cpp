// A main() for the fuzz targets without libFuzzer: runs each file given (or
// each file in each folder given, dot files excepted) through the target's
// LLVMFuzzerTestOneInput once. The ci build (gcc, ASan+UBSan) has no
// libFuzzer; this is how ctest replays the seeds and the kept regression
// inputs of every target there (tests/fuzz/replay/CMakeLists.txt).
//
//   <target>_replay PATH...             replay; exit 1 if a path is missing
//   <target>_replay --write-seeds DIR   write the target's hand-made seeds
//
// A failing input aborts (a sanitizer report or __builtin_trap), as under
// libFuzzer; the line naming it comes first, so the log says which.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz_input.hpp"

namespace {

namespace fs = std::filesystem;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

int write_seeds(const fs::path& dir) {
  fs::create_directories(dir);
  for (const auto& seed : hearth::fuzz::fuzz_seeds()) {
    std::ofstream out(dir / seed.name, std::ios::binary | std::ios::trunc);
    out.write(seed.bytes.data(), static_cast<std::streamsize>(seed.bytes.size()));
    if (!out) {
      std::fprintf(stderr, "cannot write %s\n", (dir / seed.name).c_str());
      return 1;
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 2 && args[0] == "--write-seeds") return write_seeds(args[1]);

  std::vector<fs::path> inputs;
  for (const auto& arg : args) {
    const fs::path path(arg);
    if (fs::is_directory(path)) {
      for (const auto& item : fs::directory_iterator(path)) {
        if (item.is_regular_file() && !item.path().filename().string().starts_with("."))
          inputs.push_back(item.path());
      }
    } else if (fs::is_regular_file(path)) {
      inputs.push_back(path);
    } else {
      std::fprintf(stderr, "no such file or folder: %s\n", arg.c_str());
      return 1;
    }
  }
  // In name order, so that two runs go alike.
  std::sort(inputs.begin(), inputs.end());
  for (const auto& path : inputs) {
    std::fprintf(stderr, "running %s\n", path.c_str());
    const std::string bytes = read_file(path);
    LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  }
  std::fprintf(stderr, "%zu inputs, none failed\n", inputs.size());
  return 0;
}
