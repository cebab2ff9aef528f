// Functions compiled for the host and for CUDA kernels alike, so a CPU run and a GPU run compute the same bits.
#pragma once

#ifdef __CUDACC__
#define BERT_HOST_DEVICE __host__ __device__
#else
#define BERT_HOST_DEVICE
#endif
