import { z } from 'zod';

/** One request per line: a method, its parameters, and an id the replies carry back. */
export const ControlRequest = z.object({
  id: z.number().int(),
  method: z.string().min(1).max(64),
  params: z.record(z.string(), z.unknown()).optional(),
});
export type ControlRequest = z.infer<typeof ControlRequest>;

/** A result or an error ends a call; a stream sends events until the client hangs up. */
export type ControlReply =
  | { id: number | null; result: unknown }
  | { id: number | null; error: { message: string } }
  | { id: number; event: unknown };

export const MAX_LINE_BYTES = 64 * 1024;
