#include "apps/args.h"

#include <algorithm>
#include <sstream>

#include "engine/error.h"

namespace sire::app {

Args& Args::option(const std::string& name, const std::string& help, const std::string& fallback) {
  decls_[name] = {help, fallback, false};
  order_.push_back(name);
  return *this;
}

Args& Args::flag(const std::string& name, const std::string& help) {
  decls_[name] = {help, "", true};
  order_.push_back(name);
  return *this;
}

Args& Args::positional(const std::string& name, const std::string& help) {
  decls_[name] = {help, "", false};
  positionals_.push_back(name);
  return *this;
}

bool Args::parse(const std::vector<std::string>& argv) {
  size_t pos = 0;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a == "--help" || a == "-h") return false;
    if (a.rfind("--", 0) == 0) {
      std::string name = a.substr(2), value;
      const auto eq = name.find('=');
      if (eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      }
      auto it = decls_.find(name);
      SIRE_CHECK(it != decls_.end() && std::find(positionals_.begin(), positionals_.end(), name) ==
                                           positionals_.end(),
                 "sire ", command_, ": unknown option '--", name, "'\n\n", usage());
      if (it->second.is_flag) {
        SIRE_CHECK(eq == std::string::npos, "sire ", command_, ": --", name, " takes no value");
        values_[name] = "1";
        continue;
      }
      if (eq == std::string::npos) {
        SIRE_CHECK(i + 1 < argv.size(), "sire ", command_, ": --", name, " needs a value\n\n", usage());
        value = argv[++i];
      }
      values_[name] = value;
    } else {
      SIRE_CHECK(pos < positionals_.size(), "sire ", command_, ": unexpected argument '", a,
                 "'\n\n", usage());
      values_[positionals_[pos++]] = a;
    }
  }
  SIRE_CHECK(pos == positionals_.size(), "sire ", command_, ": missing ",
             pos < positionals_.size() ? positionals_[pos] : "", "\n\n", usage());
  return true;
}

bool Args::has(const std::string& name) const { return values_.count(name) > 0; }

std::string Args::get(const std::string& name) const {
  auto it = values_.find(name);
  if (it != values_.end()) return it->second;
  auto d = decls_.find(name);
  SIRE_CHECK(d != decls_.end(), "internal: option '", name, "' was not declared");
  return d->second.fallback;
}

int64_t Args::get_int(const std::string& name) const {
  const std::string v = get(name);
  try {
    size_t used = 0;
    const long long x = std::stoll(v, &used);
    if (used == v.size()) return x;
  } catch (const std::exception&) {
  }
  SIRE_FAIL("sire ", command_, ": --", name, " must be an integer, got '", v, "'");
}

double Args::get_double(const std::string& name) const {
  const std::string v = get(name);
  try {
    size_t used = 0;
    const double x = std::stod(v, &used);
    if (used == v.size()) return x;
  } catch (const std::exception&) {
  }
  SIRE_FAIL("sire ", command_, ": --", name, " must be a number, got '", v, "'");
}

bool Args::get_flag(const std::string& name) const { return has(name); }

std::optional<int64_t> Args::maybe_int(const std::string& name) const {
  if (!has(name)) return std::nullopt;
  return get_int(name);
}

std::optional<double> Args::maybe_double(const std::string& name) const {
  if (!has(name)) return std::nullopt;
  return get_double(name);
}

std::optional<Shape> Args::maybe_shape(const std::string& name) const {
  if (!has(name)) return std::nullopt;
  Shape s;
  std::stringstream ss(get(name));
  std::string part;
  while (std::getline(ss, part, ',')) {
    try {
      s.push_back(std::stoll(part));
    } catch (const std::exception&) {
      SIRE_FAIL("sire ", command_, ": --", name, " must look like 3,32,32, got '", get(name), "'");
    }
  }
  SIRE_CHECK(s.size() == 3, "sire ", command_, ": --", name, " must be C,H,W, got '", get(name), "'");
  return s;
}

std::string Args::usage() const {
  std::ostringstream os;
  os << "usage: sire " << command_;
  for (auto& p : positionals_) os << " " << p;
  os << " [options]\n" << summary_ << "\n";
  for (auto& p : positionals_) os << "  " << p << "\n      " << decls_.at(p).help << "\n";
  for (auto& n : order_) {
    const Decl& d = decls_.at(n);
    os << "  --" << n << (d.is_flag ? "" : " VALUE") << "\n      " << d.help;
    if (!d.fallback.empty()) os << " (default: " << d.fallback << ")";
    os << "\n";
  }
  return os.str();
}

GpuMath math_option(const Args& args, Device device) {
  if (!args.has("math")) return device == Device::CUDA ? gpu_math() : GpuMath::kFP32;
  const GpuMath math = parse_gpu_math(args.get("math"));
  SIRE_CHECK(math == GpuMath::kFP32 || device == Device::CUDA, "sire ", args.command(), ": --math ",
             gpu_math_name(math), " is for --device cuda (the CPU computes in FP32 only)");
  return math;
}

}  // namespace sire::app
