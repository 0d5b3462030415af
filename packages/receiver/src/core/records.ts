/** Record ids are `r` + the anchor unit's sequence number in base 36: ordered, short, unique. */
export const recordId = (seq: number): string => `r${seq.toString(36)}`;
export const seqOf = (id: string): number => parseInt(id.slice(1), 36);
