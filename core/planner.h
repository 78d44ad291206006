/* planner.h — execution plans: the planned graph, node order, fusion and the
 * activation arena layout. */
#ifndef TERN_PLANNER_H
#define TERN_PLANNER_H

#include "backend.h"
#include "tern_internal.h"

typedef struct tern_plan {
  tern_graph *g; /* planned copy of the graph (owned) */
  int *order;    /* node indices to run, in order */
  int n_order;
  size_t *offset;     /* per tensor: arena offset, SIZE_MAX for constants */
  size_t *bytes;      /* per tensor: bytes reserved in the arena */
  size_t arena_bytes; /* peak activation bytes */
  size_t naive_bytes; /* sum over activations, no reuse */
  int fused_count;
} tern_plan;

/* batch > 0 overrides dim 0 of every input. */
tern_status tern_plan_build(const tern_graph *src, int64_t batch, bool fuse,
                            bool reuse, tern_plan *plan, tern_err *err);
void tern_plan_free(tern_plan *plan);
/* The exec node a backend sees for plan node n: views of its tensors, data
 * only for constant inputs. */
void tern_plan_exec_node(const tern_plan *p, const tern_node *n,
                         tern_exec_node *en);

#endif
