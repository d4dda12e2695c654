/** Our release, and the C release whose behaviour we follow. */
export const FWKNOP_TS_VERSION = "0.1.0";
export const COMPAT_VERSION = "2.6.10";
export const DEFAULT_USER_AGENT = `Fwknop/${COMPAT_VERSION}`;
