/** The contract's id rule (strategies, research items): 1-64 CJK, letters, digits, _ or -. */
const ID_RULE = /^[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaffA-Za-z0-9_-]{1,64}$/;

/** Why `id` is not a valid id, or null when it is. */
export function checkId(id: string): string | null {
  if (!id) return "an id is required";
  if (id.length > 64) return "at most 64 characters";
  if (!ID_RULE.test(id)) return "letters, digits, CJK, _ and - only (no spaces)";
  return null;
}
