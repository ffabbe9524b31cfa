// Sends on, at once, the answer an identity provider brought the browser back with
// (templates/oidc/continue.html); without scripts the page's button does the same.
document.querySelectorAll("form[data-continue]").forEach((form) => form.submit());
