/**
 * Shows, next to the token field, the host a typed token will be sent to.
 * The server URL can come from `?url=`, so a link can point the page (and
 * the token) anywhere; a host other than the page's own origin is flagged.
 */
export function showTokenTarget(urlInput: HTMLInputElement, target: HTMLElement, pageOrigin: string): void {
  const update = () => {
    let url: URL | undefined;
    try {
      url = new URL(urlInput.value.trim());
    } catch {
      url = undefined;
    }
    if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      target.textContent = 'The token is sent to the server URL above (not a valid URL yet).';
      delete target.dataset.foreign;
      return;
    }
    const foreign = url.origin !== pageOrigin;
    target.textContent = foreign
      ? `The token is sent to ${url.host}, not to this page's origin (${new URL(pageOrigin).host}).`
      : `The token is sent to ${url.host} (this page's origin).`;
    if (foreign) target.dataset.foreign = 'true';
    else delete target.dataset.foreign;
  };
  urlInput.addEventListener('input', update);
  urlInput.addEventListener('change', update);
  update();
}
