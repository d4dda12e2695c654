/** The environment variable that tells the packet parser whom to become: "uid:gid". */
export const RUN_AS_ENV = "FWKNOPD_PARSER_RUN_AS";
