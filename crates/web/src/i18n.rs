//! English and French strings of the console. The language comes from the
//! `lang` cookie (set by the switch), else from `Accept-Language`.

use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Fr,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        match code.trim().to_ascii_lowercase().get(..2)? {
            "en" => Some(Lang::En),
            "fr" => Some(Lang::Fr),
            _ => None,
        }
    }

    /// The best of English and French for an `Accept-Language` header
    /// (highest q first; English when neither is asked for).
    pub fn negotiate(header: Option<&str>) -> Self {
        let Some(header) = header else {
            return Lang::En;
        };
        let mut best: Option<(f32, Lang)> = None;
        for part in header.split(',') {
            let mut pieces = part.split(';');
            let tag = pieces.next().unwrap_or("");
            let q = pieces
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            if let Some(lang) = Lang::parse(tag) {
                if best.is_none_or(|(bq, _)| q > bq) {
                    best = Some((q, lang));
                }
            }
        }
        best.map(|(_, l)| l).unwrap_or(Lang::En)
    }
}

const STRINGS: &[(&str, &str, &str)] = &[
    ("app", "Scriptorium", "Scriptorium"),
    ("login.title", "Sign in", "Connexion"),
    ("login.submit", "Sign in", "Se connecter"),
    (
        "login.invalid",
        "Wrong username or password.",
        "Nom d'utilisateur ou mot de passe incorrect.",
    ),
    (
        "login.locked",
        "Too many attempts. Try again in {wait} seconds.",
        "Trop de tentatives. Réessayez dans {wait} secondes.",
    ),
    (
        "login.registered",
        "Your account is ready: sign in.",
        "Votre compte est prêt : connectez-vous.",
    ),
    (
        "login.no_account",
        "No account yet?",
        "Pas encore de compte ?",
    ),
    ("register.title", "Create an account", "Créer un compte"),
    ("register.submit", "Create the account", "Créer le compte"),
    (
        "register.taken",
        "This username is taken.",
        "Ce nom d'utilisateur est déjà pris.",
    ),
    (
        "register.have_account",
        "Already registered?",
        "Déjà inscrit ?",
    ),
    (
        "register.username_hint",
        "3 to 32 letters, digits, '.', '_' or '-'.",
        "3 à 32 lettres, chiffres, « . », « _ » ou « - ».",
    ),
    (
        "register.password_hint",
        "At least 8 characters; common passwords are refused.",
        "Au moins 8 caractères ; les mots de passe courants sont refusés.",
    ),
    ("field.username", "Username", "Nom d'utilisateur"),
    ("field.password", "Password", "Mot de passe"),
    ("home.title", "Home", "Accueil"),
    ("home.hello", "Hello, {name}!", "Bonjour, {name} !"),
    ("home.intro", "You are signed in.", "Vous êtes connecté."),
    ("logout.submit", "Sign out", "Se déconnecter"),
    ("logout.title", "Sign out", "Déconnexion"),
    ("csrf.title", "Form refused", "Formulaire refusé"),
    (
        "csrf.body",
        "This form has expired or was sent from another site. Reload the page and try again.",
        "Ce formulaire a expiré ou vient d'un autre site. Rechargez la page et réessayez.",
    ),
    (
        "error.busy",
        "The service is busy. Try again in a moment.",
        "Le service est occupé. Réessayez dans un instant.",
    ),
    ("lang.switch", "Français", "English"),
    ("nav.settings", "API keys", "Clés d'API"),
    ("nav.chat", "Assistant", "Assistant"),
    ("chat.title", "Assistant", "Assistant"),
    ("chat.intro", "Ask the language model; it runs on this server and your messages stay here.", "Posez vos questions au modèle de langue ; il tourne sur ce serveur et vos messages y restent."),
    ("chat.empty", "No messages yet.", "Aucun message pour l'instant."),
    ("chat.message", "Your message", "Votre message"),
    ("chat.send", "Send", "Envoyer"),
    ("chat.clear", "Start over", "Recommencer"),
    ("chat.you", "You", "Vous"),
    ("chat.assistant", "Assistant", "Assistant"),
    ("chat.required", "Write a message first.", "Écrivez d'abord un message."),
    ("chat.busy", "The assistant is busy; try again in a moment.", "L'assistant est occupé ; réessayez dans un instant."),
    ("chat.unavailable", "The assistant is not available right now.", "L'assistant n'est pas disponible pour le moment."),
    ("chat.broke_off", "The answer stopped before its end. Send the message again.", "La réponse s'est interrompue avant la fin. Envoyez le message à nouveau."),
    ("chat.stop", "Stop", "Arrêter"),
    ("session.expired", "Your session has ended: sign in again.", "Votre session a pris fin : reconnectez-vous."),
    ("ocr.languages", "Languages", "Langues"),
    ("ocr.required", "Choose a file first.", "Choisissez d'abord un fichier."),
    ("ocr.too_large", "The upload was too large or broken off (64 MiB at most).", "Le fichier était trop gros ou l'envoi a été interrompu (64 Mio au plus)."),
    ("ocr.page", "Page", "Page"),
    ("ocr.confidence", "mean confidence", "confiance moyenne"),
    ("ocr.legend", "Word boxes: green 80% or more, amber 50 to 80%, red below 50%. Hover a word for its confidence.", "Cadres des mots : vert 80 % ou plus, orange de 50 à 80 %, rouge sous 50 %. Survolez un mot pour sa confiance."),
    ("ocr.ask", "Ask about this document", "Poser une question sur ce document"),
    ("nav.library", "Library", "Bibliothèque"),
    ("nav.ask", "Ask the library", "Interroger la bibliothèque"),
    ("library.title", "Library", "Bibliothèque"),
    ("library.search", "Search your documents", "Chercher dans vos documents"),
    ("library.search_hint", "words, \"a phrase\", prefix*, -excluded", "mots, « une phrase » entre guillemets, préfixe*, -exclu"),
    ("library.search_submit", "Search", "Chercher"),
    ("library.hits", "Pages found", "Pages trouvées"),
    ("library.no_hits", "No page matches.", "Aucune page ne correspond."),
    ("library.documents", "Your documents", "Vos documents"),
    ("library.none", "No documents yet.", "Aucun document pour l'instant."),
    ("library.status", "Status", "État"),
    ("library.pages", "Pages", "Pages"),
    ("library.upload", "Add documents", "Ajouter des documents"),
    ("library.files", "Files (PNG, JPEG, TIFF, WebP, BMP, GIF or PDF; several at once)", "Fichiers (PNG, JPEG, TIFF, WebP, BMP, GIF ou PDF ; plusieurs à la fois)"),
    ("library.upload_submit", "Add to the library", "Ajouter à la bibliothèque"),
    ("library.downloads", "Download", "Télécharger"),
    ("library.original", "original", "original"),
    ("library.pdf", "searchable PDF", "PDF cherchable"),
    ("library.text", "text", "texte"),
    ("library.delete", "Delete this document", "Supprimer ce document"),
    ("library.confirm", "Yes, delete it with its pages", "Oui, le supprimer avec ses pages"),
    ("library.confirm_required", "Tick the box to confirm the deletion.", "Cochez la case pour confirmer la suppression."),
    ("library.back", "Back to the document", "Retour au document"),
    ("library.unavailable", "The library is not available right now.", "La bibliothèque n'est pas disponible pour le moment."),
    ("ask.title", "Ask the library", "Interroger la bibliothèque"),
    ("ask.intro", "Questions are answered from your documents only, and each answer cites its pages.", "Les réponses viennent de vos documents seulement, et chacune cite ses pages."),
    ("ask.question", "Your question", "Votre question"),
    ("ask.documents", "Only these documents (none chosen: all of them)", "Seulement ces documents (aucun coché : tous)"),
    ("ask.submit", "Ask", "Demander"),
    ("ask.new", "New conversation", "Nouvelle conversation"),
    ("ask.conversations", "Your conversations", "Vos conversations"),
    ("ask.nothing", "Nothing in your documents answers this.", "Rien dans vos documents n'y répond."),
    ("ask.required", "Write a question first.", "Écrivez d'abord une question."),
    ("settings.title", "API keys", "Clés d'API"),
    ("settings.intro", "Programs use API keys instead of your password. A key is shown once, when it is created.", "Les programmes utilisent des clés d'API au lieu de votre mot de passe. Une clé n'est affichée qu'une fois, à sa création."),
    ("settings.name", "Name", "Nom"),
    ("settings.expires_days", "Expires after (days, empty for never)", "Expire après (jours, vide pour jamais)"),
    ("settings.create", "Create a key", "Créer une clé"),
    ("settings.new_key", "Your new key. Copy it now: it will not be shown again.", "Votre nouvelle clé. Copiez-la maintenant : elle ne sera plus affichée."),
    ("settings.examples", "Use it", "L'utiliser"),
    ("settings.none", "No keys yet.", "Aucune clé pour l'instant."),
    ("settings.prefix", "Starts with", "Commence par"),
    ("settings.created", "Created", "Créée"),
    ("settings.expires", "Expires", "Expire"),
    ("settings.never", "never", "jamais"),
    ("settings.revoked", "revoked", "révoquée"),
    ("settings.revoke", "Revoke", "Révoquer"),
    ("settings.bad_days", "Enter a whole number of days from 1 to 3650.", "Entrez un nombre entier de jours, de 1 à 3650."),
];

/// The string for `key`, or the key itself when it is missing.
pub fn t(lang: Lang, key: &str) -> String {
    STRINGS
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, en, fr)| if lang == Lang::Fr { *fr } else { *en })
        .unwrap_or(key)
        .to_owned()
}

/// All strings of a language, for templates.
pub fn all(lang: Lang) -> HashMap<String, String> {
    STRINGS
        .iter()
        .map(|(k, e, f)| {
            (
                k.replace('.', "_"),
                if lang == Lang::Fr { *f } else { *e }.to_owned(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiates_by_quality() {
        assert_eq!(Lang::negotiate(Some("fr-FR,fr;q=0.9,en;q=0.8")), Lang::Fr);
        assert_eq!(Lang::negotiate(Some("de,en;q=0.5,fr;q=0.4")), Lang::En);
        assert_eq!(Lang::negotiate(Some("de")), Lang::En);
        assert_eq!(Lang::negotiate(None), Lang::En);
    }

    #[test]
    fn every_key_has_both_languages() {
        for (k, e, f) in STRINGS {
            assert!(!e.is_empty() && !f.is_empty(), "{k}");
        }
        assert_eq!(t(Lang::Fr, "login.title"), "Connexion");
    }
}
