/** The gpg program when neither the command line, the rc file nor the config names one. */
export const DEFAULT_GPG_EXE = "/usr/bin/gpg";
