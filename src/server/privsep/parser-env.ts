/** The environment variable that tells the packet parser whom to become: "uid:gid". */
export const RUN_AS_ENV = "FWKNOPD_PARSER_RUN_AS";
/** The broker's open descriptors when it started the parser (inherited-fds.ts). */
export const INHERITED_ENV = "FWKNOPD_PARSER_INHERITED";
