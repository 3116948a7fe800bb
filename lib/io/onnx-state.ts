// Stateful ONNX graphs: the names of the state inputs and outputs toOnnx(model, { state: true })
// adds, and, for importOnnx, which graph inputs are initial states rather than data.
//
// Naming (docs/onnx.md): the model's recurrent layers are numbered r = 0, 1, … in order (a lone
// recurrent layer is r = 0). Layer r reads `h0`, `c0` (LSTM) and writes `h`, `c` when r = 0, and
// `h0_r`, `c0_r`, `h_r`, `c_r` otherwise; each is `[L·D, B, H]` (L layers, D directions) with
// rows layer-major, forward before reverse, as forward's `h0` / `c0` and `h` / `c`.
import { cellOfOnnxOp } from '../cells';
import type { GraphMsg, NodeMsg } from './onnx-schema';

/** The graph names of recurrent layer r's initial and final states. */
export function stateNames(r: number): { h0: string; c0: string; h: string; c: string } {
  const sfx = r === 0 ? '' : `_${r}`;
  return { h0: `h0${sfx}`, c0: `c0${sfx}`, h: `h${sfx}`, c: `c${sfx}` };
}

/**
 * The graph inputs that only feed recurrent nodes' `initial_h` / `initial_c` (input slots 5 and
 * 6), directly or through a Slice of them: the graph's state inputs, which importOnnx maps onto
 * forward's `h0` / `c0` rather than taking them for a second data input.
 */
export function stateInputNames(graph: GraphMsg): Set<string> {
  const consumers = new Map<string, { node: NodeMsg; slot: number }[]>();
  for (const node of graph.node ?? [])
    (node.input ?? []).forEach((name, slot) => {
      if (!name) return;
      let list = consumers.get(name);
      if (!list) consumers.set(name, (list = []));
      list.push({ node, slot });
    });
  const feedsState = (name: string, depth: number): boolean => {
    const uses = consumers.get(name) ?? [];
    return (
      uses.length > 0 &&
      uses.every(({ node, slot }) => {
        const op = node.op_type ?? '';
        if (cellOfOnnxOp(op)) return slot === 5 || slot === 6;
        if (op === 'Slice' && slot === 0 && depth === 0)
          return (node.output ?? []).length === 1 && feedsState(node.output![0], 1);
        return false;
      })
    );
  };
  const out = new Set<string>();
  for (const input of graph.input ?? []) {
    const name = input.name ?? '';
    if (name && feedsState(name, 0)) out.add(name);
  }
  return out;
}
