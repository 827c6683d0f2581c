import type { ModuleSteps } from '../store/index.js';

/** The rollouts module's tables: rollouts, each device's part in one, and device tags. Never edit a step: add one. */
export const ROLLOUT_STEPS: ModuleSteps = {
  sqlite: [
    `CREATE TABLE rollouts (
     id TEXT PRIMARY KEY,
     version TEXT NOT NULL,
     spec TEXT NOT NULL,
     state TEXT NOT NULL,
     reason TEXT,
     created_by TEXT NOT NULL,
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL
   );
   CREATE TABLE rollout_devices (
     rollout TEXT NOT NULL,
     device TEXT NOT NULL,
     school TEXT NOT NULL,
     phase INTEGER NOT NULL,
     state TEXT NOT NULL,
     detail TEXT,
     fetched INTEGER,
     total INTEGER,
     offered_at TEXT,
     updated_at TEXT NOT NULL,
     PRIMARY KEY (rollout, device)
   );
   CREATE INDEX rollout_devices_device ON rollout_devices (device);
   CREATE TABLE device_tags (device TEXT NOT NULL, tag TEXT NOT NULL, PRIMARY KEY (device, tag));`,
  ],
  postgres: [
    `CREATE TABLE rollouts (
       id TEXT COLLATE "C" PRIMARY KEY,
       version TEXT COLLATE "C" NOT NULL,
       spec TEXT NOT NULL,
       state TEXT NOT NULL,
       reason TEXT,
       created_by TEXT NOT NULL,
       created_at TEXT COLLATE "C" NOT NULL,
       updated_at TEXT NOT NULL
     );
     CREATE TABLE rollout_devices (
       rollout TEXT COLLATE "C" NOT NULL,
       device TEXT COLLATE "C" NOT NULL,
       school TEXT COLLATE "C" NOT NULL,
       phase INTEGER NOT NULL,
       state TEXT NOT NULL,
       detail TEXT,
       fetched BIGINT,
       total BIGINT,
       offered_at TEXT,
       updated_at TEXT NOT NULL,
       PRIMARY KEY (rollout, device)
     );
     CREATE INDEX rollout_devices_device ON rollout_devices (device);
     CREATE TABLE device_tags (
       device TEXT COLLATE "C" NOT NULL,
       tag TEXT COLLATE "C" NOT NULL,
       PRIMARY KEY (device, tag)
     );`,
  ],
};
