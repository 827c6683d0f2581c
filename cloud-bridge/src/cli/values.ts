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
