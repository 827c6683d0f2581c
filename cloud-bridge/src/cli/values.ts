import { Identifier } from '@educard/terminal-sdk';
import { InvalidArgumentError } from 'commander';

/** A commander parser for a whole number in [min, max]. */
export const wholeNumber =
  (min: number, max: number) =>
  (text: string): number => {
    const value = Number(text);
    if (!/^\d+$/.test(text.trim()) || value < min || value > max)
      throw new InvalidArgumentError(`a whole number from ${min} to ${max}`);
    return value;
  };

/** A commander parser for a number above 0 and at most max. */
export const positiveNumber =
  (max: number) =>
  (text: string): number => {
    const value = Number(text);
    if (text.trim() === '' || !Number.isFinite(value) || value <= 0 || value > max)
      throw new InvalidArgumentError(`a number above 0, at most ${max}`);
    return value;
  };

/** A commander parser for a port (0 lets the system pick one). */
export const port = wholeNumber(0, 65535);

/** A commander parser for an id the contract accepts (a school, device or card id). */
export const identifier =
  (flag: string) =>
  (text: string): string => {
    if (!Identifier.safeParse(text).success)
      throw new InvalidArgumentError(
        `${flag} must be letters, digits, ".", "_" or "-", starting with a letter or digit, at most 64`,
      );
    return text;
  };
