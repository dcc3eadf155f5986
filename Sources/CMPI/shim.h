// Open MPI (Debian's libopenmpi-dev). Its handles (MPI_COMM_WORLD, MPI_FLOAT,
// MPI_SUM, MPI_IN_PLACE, …) are macros over addresses of library globals, which
// Swift cannot import: these functions name them. Debian puts mpi.h under the
// multiarch include folder (an alternatives link to Open MPI's own folder); its
// quoted includes resolve beside it.
#if defined(__x86_64__)
#include <x86_64-linux-gnu/mpi/mpi.h>
#elif defined(__aarch64__)
#include <aarch64-linux-gnu/mpi/mpi.h>
#else
#include <mpi.h>
#endif
#include <stdint.h>

/// MPI_Init_thread asking for MPI_THREAD_FUNNELED (only the main thread calls MPI);
/// returns MPI_SUCCESS or an error code.
static inline int trainer_mpi_init(void) {
    int provided = 0;
    return MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
}

static inline int trainer_mpi_is_initialized(void) {
    int flag = 0;
    MPI_Initialized(&flag);
    return flag;
}

static inline int trainer_mpi_is_finalized(void) {
    int flag = 0;
    MPI_Finalized(&flag);
    return flag;
}

static inline int trainer_mpi_finalize(void) { return MPI_Finalize(); }

static inline int trainer_mpi_rank(void) {
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    return rank;
}

static inline int trainer_mpi_size(void) {
    int size = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    return size;
}

/// Errors come back as return codes (the default handler aborts the job without a word of ours).
static inline int trainer_mpi_return_errors(void) {
    return MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
}

/// In place: every rank's `values` become the element-wise sum over the ranks.
static inline int trainer_mpi_allreduce_sum_float(float *values, int count) {
    return MPI_Allreduce(MPI_IN_PLACE, values, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
}

/// Starts an in-place sum of `values` over the ranks (`MPI_Iallreduce`); `values`
/// must stay untouched until the request completes (`trainer_mpi_test` or `trainer_mpi_wait`).
static inline int trainer_mpi_iallreduce_sum_float(float *values, int count, MPI_Request *request) {
    return MPI_Iallreduce(MPI_IN_PLACE, values, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, request);
}

/// Whether `request` has completed (`*done` 1 or 0); lets Open MPI progress outstanding operations.
static inline int trainer_mpi_test(MPI_Request *request, int *done) {
    return MPI_Test(request, done, MPI_STATUS_IGNORE);
}

/// Waits until `request` completes.
static inline int trainer_mpi_wait(MPI_Request *request) { return MPI_Wait(request, MPI_STATUS_IGNORE); }

static inline int trainer_mpi_allreduce_sum_double(double *values, int count) {
    return MPI_Allreduce(MPI_IN_PLACE, values, count, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
}

static inline int trainer_mpi_allreduce_max_int64(int64_t *values, int count) {
    return MPI_Allreduce(MPI_IN_PLACE, values, count, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD);
}

/// Every rank's `value` gathered in rank order into `out` (one per rank).
static inline int trainer_mpi_allgather_uint64(uint64_t value, uint64_t *out) {
    return MPI_Allgather(&value, 1, MPI_UINT64_T, out, 1, MPI_UINT64_T, MPI_COMM_WORLD);
}

static inline int trainer_mpi_barrier(void) { return MPI_Barrier(MPI_COMM_WORLD); }

static inline int trainer_mpi_abort(int code) { return MPI_Abort(MPI_COMM_WORLD, code); }

/// The text of an MPI error code.
static inline void trainer_mpi_error_string(int code, char *out, int capacity) {
    char text[MPI_MAX_ERROR_STRING];
    int length = 0;
    if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) length = 0;
    if (length >= capacity) length = capacity - 1;
    for (int i = 0; i < length; i++) out[i] = text[i];
    if (capacity > 0) out[length] = 0;
}
