/**
 * The little of the D-Bus wire protocol that one method call needs (D-Bus Specification, "Message
 * Protocol": marshalling, message format, header fields), pure functions: build a METHOD_CALL whose
 * arguments are strings, arrays of strings and int32s, and read replies (METHOD_RETURN, ERROR):
 * their body values of the basic types, strings, variants, arrays, structs and dict entries (what
 * firewalld answers: "s", "as", "b", "v" from Properties.Get). Every length is checked against the
 * message before it is used; anything malformed is an Error, never trusted further.
 * This file holds the constants both halves share: dbus-encode.ts builds the call and
 * dbus-decode.ts reads the reply.
 */

export const MessageType = { METHOD_CALL: 1, METHOD_RETURN: 2, ERROR: 3, SIGNAL: 4 } as const;

/** Header field codes ("Header Fields"). */
export const Field = {
  PATH: 1,
  INTERFACE: 2,
  MEMBER: 3,
  ERROR_NAME: 4,
  REPLY_SERIAL: 5,
  DESTINATION: 6,
  SIGNATURE: 8,
} as const;

/** A message larger than this is refused (the spec's own limit is 128 MiB). */
export const MAX_MESSAGE_BYTES = 16 << 20;
