/* proto.c: names of the protocol error codes. */
#include <string.h>
#include "proto.h"

static const char *const err_names[PERR__COUNT] = {
	[PERR_OK] = "ok",
	[PERR_BAD_JSON] = "bad_json",
	[PERR_BAD_REQUEST] = "bad_request",
	[PERR_UNKNOWN_OP] = "unknown_op",
	[PERR_UNKNOWN_TYPE] = "unknown_type",
	[PERR_NOT_FOUND] = "not_found",
	[PERR_CONFLICT] = "conflict",
	[PERR_FORBIDDEN] = "forbidden",
	[PERR_FRAME_TOO_LARGE] = "frame_too_large",
	[PERR_UNAVAILABLE] = "unavailable",
	[PERR_BUSY] = "busy",
	[PERR_INTERNAL] = "internal",
	[PERR_IN_DOUBT] = "in_doubt",
};

const char *
proto_err_name(int err)
{
	if (err < 0 || err >= PERR__COUNT)
		return "internal";
	return err_names[err];
}

int
proto_err_from_name(const char *name)
{
	for (int i = 0; name != NULL && i < PERR__COUNT; i++)
		if (strcmp(err_names[i], name) == 0)
			return i;
	return PERR_INTERNAL;
}
