export { exited, freePort, type Mosquitto, startMosquitto } from './mosquitto.js';
export { missingPcscParts, PCSC_APT_COMMAND, type Pcscd, startPcscd } from './pcscd.js';
