/* The CPU kernels (one function per ONNX op), looked up by name in ops.c. */
#ifndef NARRATE_NN_CPU_OPS_H
#define NARRATE_NN_CPU_OPS_H

#include "cpu.h"

#define NR__OPS(X)                                                                                 \
    X("Add", nr__op_add)                                                                           \
    X("And", nr__op_and)                                                                           \
    X("Cast", nr__op_cast)                                                                         \
    X("Ceil", nr__op_ceil)                                                                         \
    X("Clip", nr__op_clip)                                                                         \
    X("Concat", nr__op_concat)                                                                     \
    X("Constant", nr__op_constant)                                                                 \
    X("ConstantOfShape", nr__op_constant_of_shape)                                                 \
    X("Conv", nr__op_conv)                                                                         \
    X("ConvTranspose", nr__op_conv_transpose)                                                      \
    X("CumSum", nr__op_cumsum)                                                                     \
    X("Div", nr__op_div)                                                                           \
    X("Equal", nr__op_equal)                                                                       \
    X("Erf", nr__op_erf)                                                                           \
    X("Exp", nr__op_exp)                                                                           \
    X("Expand", nr__op_expand)                                                                     \
    X("Gather", nr__op_gather)                                                                     \
    X("GatherElements", nr__op_gather_elements)                                                    \
    X("GatherND", nr__op_gather_nd)                                                                \
    X("GreaterOrEqual", nr__op_greater_equal)                                                      \
    X("LeakyRelu", nr__op_leaky_relu)                                                              \
    X("Less", nr__op_less)                                                                         \
    X("LessOrEqual", nr__op_less_equal)                                                            \
    X("MatMul", nr__op_matmul)                                                                     \
    X("Mul", nr__op_mul)                                                                           \
    X("Neg", nr__op_neg)                                                                           \
    X("NonZero", nr__op_non_zero)                                                                  \
    X("Not", nr__op_not)                                                                           \
    X("Pad", nr__op_pad)                                                                           \
    X("Pow", nr__op_pow)                                                                           \
    X("RandomNormalLike", nr__op_random_normal_like)                                               \
    X("Range", nr__op_range)                                                                       \
    X("ReduceMax", nr__op_reduce_max)                                                              \
    X("ReduceMean", nr__op_reduce_mean)                                                            \
    X("ReduceSum", nr__op_reduce_sum)                                                              \
    X("Relu", nr__op_relu)                                                                         \
    X("Reshape", nr__op_reshape)                                                                   \
    X("ScatterND", nr__op_scatter_nd)                                                              \
    X("Shape", nr__op_shape)                                                                       \
    X("Sigmoid", nr__op_sigmoid)                                                                   \
    X("Slice", nr__op_slice)                                                                       \
    X("Softmax", nr__op_softmax)                                                                   \
    X("Softplus", nr__op_softplus)                                                                 \
    X("Split", nr__op_split)                                                                       \
    X("Sqrt", nr__op_sqrt)                                                                         \
    X("Squeeze", nr__op_squeeze)                                                                   \
    X("Sub", nr__op_sub)                                                                           \
    X("Tanh", nr__op_tanh)                                                                         \
    X("Transpose", nr__op_transpose)                                                               \
    X("Unsqueeze", nr__op_unsqueeze)                                                               \
    X("Where", nr__op_where)

#define NR__DECL_OP(name, fn) enum nr_status fn(OP_ARGS);
NR__OPS(NR__DECL_OP)
#undef NR__DECL_OP

#endif
