#include "engine/profile.h"

namespace sire::profile {
namespace {
bool g_enabled = false;
thread_local std::string g_scope;
int64_t g_macs = 0;
}  // namespace

bool enabled() { return g_enabled; }
void set_enabled(bool on) { g_enabled = on; }

Scope::Scope(const std::string& name) : previous_(g_scope) { g_scope = name; }
Scope::~Scope() { g_scope = previous_; }
const std::string& Scope::current() { return g_scope; }

std::map<std::string, LayerTime>& layer_times() {
  static std::map<std::string, LayerTime> t;
  return t;
}

void add_macs(int64_t n) {
  if (g_enabled) g_macs += n;
}
int64_t macs() { return g_macs; }

void reset() {
  layer_times().clear();
  g_macs = 0;
}

}  // namespace sire::profile
