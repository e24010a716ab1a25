// Target registry: the one place that knows which code generators exist.
#include "codegen/Target.h"

namespace kerasc {

std::unique_ptr<Target> createCpuTarget();

std::unique_ptr<Target> createTarget(const std::string &name) {
  if (name == "cpu")
    return createCpuTarget();
  return nullptr;
}

std::vector<std::string> targetNames() { return {"cpu"}; }

std::vector<std::string> cpuNames() { return {"native", "x86-64-v3", "generic"}; }

std::string cpuFlags(const std::string &cpu) {
  if (cpu == "native")
    return "-march=native";
  if (cpu == "x86-64-v3")
    return "-march=x86-64-v3";
  return ""; // generic
}

} // namespace kerasc
