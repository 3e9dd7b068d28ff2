// The subcommands of `sire`, one small file each, registered by name.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace sire::app {

struct Command {
  std::string name, summary;
  std::function<int(const std::vector<std::string>&)> run;
};

// Every command, in the order `sire --help` lists them.
const std::vector<Command>& commands();

int run_info(const std::vector<std::string>& argv);
int run_train(const std::vector<std::string>& argv);
int run_eval(const std::vector<std::string>& argv);
int run_time(const std::vector<std::string>& argv);
int run_recon(const std::vector<std::string>& argv);

}  // namespace sire::app
