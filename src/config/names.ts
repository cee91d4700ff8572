// The grammar of the names users give containers, networks and network namespaces
// (docker's): a letter or digit, then letters, digits, '_', '.' and '-'.
const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export function isValidName(name: unknown, maxLength = 253): name is string {
  return typeof name === 'string' && name.length <= maxLength && NAME.test(name);
}
