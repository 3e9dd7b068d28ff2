// Command-line options of the `sire` subcommands: `--name value` or `--flag`, each declared
// with a help line, so that an unknown or malformed option is an error that shows the usage.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/device.h"
#include "engine/shape.h"

namespace sire::app {

class Args {
 public:
  Args(std::string command, std::string summary) : command_(std::move(command)), summary_(std::move(summary)) {}

  // Declarations (before parse).
  Args& option(const std::string& name, const std::string& help, const std::string& fallback = "");
  Args& flag(const std::string& name, const std::string& help);
  Args& positional(const std::string& name, const std::string& help);

  // Parses argv; throws sire::Error with the usage on a bad option. Returns false for --help.
  bool parse(const std::vector<std::string>& argv);

  bool has(const std::string& name) const;  // given on the command line (or positional)
  std::string get(const std::string& name) const;
  int64_t get_int(const std::string& name) const;
  double get_double(const std::string& name) const;
  bool get_flag(const std::string& name) const;
  std::optional<int64_t> maybe_int(const std::string& name) const;
  std::optional<double> maybe_double(const std::string& name) const;
  // "3,32,32" -> [3, 32, 32]
  std::optional<Shape> maybe_shape(const std::string& name) const;
  std::string usage() const;
  const std::string& command() const { return command_; }

 private:
  struct Decl {
    std::string help, fallback;
    bool is_flag = false;
  };
  std::string command_, summary_;
  std::map<std::string, Decl> decls_;
  std::vector<std::string> order_, positionals_;
  std::map<std::string, std::string> values_;
};

// The value of a command's --math option for a run on `device` (not given: the math already set,
// FP32 unless SIRE_CUDA_MATH=tf32). TF32 asked of the CPU is an error, not a silent FP32 run (the
// CPU computes in FP32 only).
GpuMath math_option(const Args& args, Device device);

}  // namespace sire::app
