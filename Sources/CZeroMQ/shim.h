// libzmq. zmq.h lives in /usr/include, so no pkg-config cflags are needed (libzmq.pc's
// -isystem flag would make every build warn).
#include <zmq.h>
