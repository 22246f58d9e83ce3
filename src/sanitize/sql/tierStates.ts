/**
 * Tier-object states whose row refers to its Tier-2 object: the object is about to be
 * written, is being written, or stores a stubbed file's content. LOST counts too: its
 * stub is still on the source, so an object that turns up again under its key is the
 * file's only copy. An object referenced this way is never an orphan.
 */
export const REFERENCING_STATES = `('PLANNED', 'IN_PROGRESS', 'STUBBED', 'RECALLING', 'LOST')`;

/** States in which a stub on the source refers to the Tier-2 object; such an object is never deleted. */
export const STUB_STATES = `('STUBBED', 'RECALLING')`;

/**
 * A condition on tier object `t`: the object's content was copied to Tier-2, so its
 * Tier-2 object must exist. That holds for a stub, and for a FAILED attempt that
 * recorded the copy's SHA-256 before stubbing failed. A PLANNED row whose copy has not
 * started is normal and is not expected in Tier-2, and an IN_PROGRESS one may be
 * writing its object right now.
 */
export const COPY_RECORDED = (t: string) => `(${t}.state IN ${STUB_STATES} OR (${t}.state = 'FAILED' AND ${t}.sha256 IS NOT NULL))`;
