export { CHROMIUM, launchChromium } from './browser.js';
export { fillDisk, type Mounted, mountBtrfs, mountTmpfs } from './disks.js';
export { exited, freePort, type Mosquitto, type MosquittoTls, startMosquitto } from './mosquitto.js';
export { missingPcscParts, PCSC_APT_COMMAND, type Pcscd, startPcscd } from './pcscd.js';
export { until } from './until.js';
