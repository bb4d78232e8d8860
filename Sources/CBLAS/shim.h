// OpenBLAS: cblas_sgemm & co., plus the openblas_* queries for core name and threads.
#include <cblas.h>

// Declared by OpenBLAS's cblas.h in recent versions; repeated here so older headers work too.
char *openblas_get_corename(void);
int openblas_get_num_threads(void);
void openblas_set_num_threads(int num_threads);
