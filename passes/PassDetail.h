// Shared by the pass implementations: the tablegen'd pass base classes.
#pragma once

#include "ir/NNDialect.h"
#include "passes/Passes.h"

namespace kerasc {
#define GEN_PASS_CLASSES
#include "passes/Passes.h.inc"
} // namespace kerasc
