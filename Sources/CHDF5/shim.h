// Debian installs the serial HDF5 headers under hdf5/serial; they include each
// other with quotes, so including the top header by its full path is enough.
#include <hdf5/serial/hdf5.h>
