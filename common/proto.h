/*
 * proto.h: constants of the jobd wire protocol (docs/protocol.md) shared
 * by the daemon, libjobclient and jobctl.  Error numbers are stable: never
 * renumber, only append.
 */
#ifndef JOBD_PROTO_H
#define JOBD_PROTO_H

#define PROTO_VERSION          1
#define PROTO_DEFAULT_MAX_FRAME (8u * 1024 * 1024)
#define PROTO_DEFAULT_SOCKET   "/run/jobd/jobd.sock"

/* proto_err: protocol error codes, as docs/protocol.md numbers them. */
enum proto_err {
	PERR_OK = 0,
	PERR_BAD_JSON = 1,
	PERR_BAD_REQUEST = 2,
	PERR_UNKNOWN_OP = 3,
	PERR_UNKNOWN_TYPE = 4,
	PERR_NOT_FOUND = 5,
	PERR_CONFLICT = 6,
	PERR_FORBIDDEN = 7,
	PERR_FRAME_TOO_LARGE = 8,
	PERR_UNAVAILABLE = 9,
	PERR_BUSY = 10,
	PERR_INTERNAL = 11,
	PERR_IN_DOUBT = 12,      /* sent to Redis, outcome unknown */
	PERR__COUNT
};

/* proto_err_name: the wire name ("bad_json", ...) of an error, or "internal". */
const char *proto_err_name(int err);

/* proto_err_from_name: the error for a wire name, or PERR_INTERNAL if unknown. */
int proto_err_from_name(const char *name);

#endif
