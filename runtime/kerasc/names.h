// kerasc runtime: looking up a Keras identifier (class name or snake_case alias, as Keras's
// *.get() accepts them) in a table of the runtime's enumerators. Header-only, standard library only.
#pragma once

#include <cstddef>
#include <cstring>

namespace kerasc {

template <class Kind> struct KerasName {
  const char *class_name; // "GlorotUniform"
  const char *alias;      // "glorot_uniform"
  Kind kind;
};

/// Sets *kind to the entry whose class name or alias is exactly `name`; false when none is.
template <class Kind, size_t N>
inline bool find_keras_name(const KerasName<Kind> (&table)[N], const char *name, Kind *kind) {
  for (const KerasName<Kind> &e : table)
    if (std::strcmp(name, e.class_name) == 0 || std::strcmp(name, e.alias) == 0) {
      *kind = e.kind;
      return true;
    }
  return false;
}

} // namespace kerasc
