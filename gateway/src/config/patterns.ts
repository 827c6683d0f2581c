import { z } from 'zod';

/** A regular expression, checked when the configuration is read: a reader's name pattern, say. */
export const RegexPattern = z
  .string()
  .min(1)
  .refine((text) => {
    try {
      new RegExp(text);
      return true;
    } catch {
      return false;
    }
  }, 'not a valid regular expression');
