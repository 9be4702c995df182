/**
 * The contract's id rule (strategies, research items): 1-64 characters, each a CJK unified
 * ideograph (every block: the main one, extensions A-J, the compatibility blocks), an ASCII
 * letter, a digit, `_` or `-`. The `u` flag counts code points, as the server does.
 */
const ID_RULE =
  /^[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u{20000}-\u{2a6df}\u{2a700}-\u{2ee5f}\u{2f800}-\u{2fa1f}\u{30000}-\u{3347f}A-Za-z0-9_-]{1,64}$/u;

/** Why `id` is not a valid id, or null when it is. */
export function checkId(id: string): string | null {
  if (!id) return "an id is required";
  if ([...id].length > 64) return "at most 64 characters";
  if (!ID_RULE.test(id)) return "letters, digits, CJK, _ and - only (no spaces)";
  return null;
}
