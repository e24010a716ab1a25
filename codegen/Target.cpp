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

} // namespace kerasc
