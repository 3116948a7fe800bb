// The cell registry: every cell family the kernel knows, in the order of enum Cell. A new cell
// adds its family here (and its Cell value, its options block in Config, its sub-table in
// Kernels).
#include <string>
#include <vector>

#include "cell/cell.h"

namespace cellstate {

const std::vector<const CellFamily*>& Families() {
  static const std::vector<const CellFamily*> all = {&LstmFamily(), &GruFamily(), &RnnFamily()};
  return all;
}

const CellFamily* FamilyOf(Cell c) {
  for (const CellFamily* f : Families())
    if (f->id() == c) return f;
  return nullptr;
}

const CellFamily* FamilyNamed(const std::string& name) {
  for (const CellFamily* f : Families())
    if (name == f->name()) return f;
  return nullptr;
}

template <>
std::unique_ptr<RecurrentCell<float>> MakeCell<float>(const Config& cfg) {
  const CellFamily* f = FamilyOf(cfg.cell);
  return f ? f->MakeFloat(cfg) : nullptr;
}

template <>
std::unique_ptr<RecurrentCell<double>> MakeCell<double>(const Config& cfg) {
  const CellFamily* f = FamilyOf(cfg.cell);
  return f ? f->MakeDouble(cfg) : nullptr;
}

}  // namespace cellstate
