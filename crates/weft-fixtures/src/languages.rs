//! A sentence in each of the eight languages of Llama-3.1, for tests of counting, search
//! and summaries.

/// One sentence in each language, by its code.
pub const SENTENCES: [(&str, &str); 8] = [
    (
        "en",
        "The parcel left the warehouse on Monday and should arrive by Thursday.",
    ),
    (
        "de",
        "Das Paket hat das Lager am Montag verlassen und sollte bis Donnerstag ankommen.",
    ),
    (
        "fr",
        "Le colis a quitté l'entrepôt lundi et devrait arriver d'ici jeudi.",
    ),
    (
        "it",
        "Il pacco ha lasciato il magazzino lunedì e dovrebbe arrivare entro giovedì.",
    ),
    (
        "pt",
        "O pacote saiu do armazém na segunda-feira e deve chegar até quinta-feira.",
    ),
    (
        "hi",
        "पार्सल सोमवार को गोदाम से निकला और गुरुवार तक पहुंच जाना चाहिए।",
    ),
    (
        "es",
        "El paquete salió del almacén el lunes y debería llegar el jueves.",
    ),
    ("th", "พัสดุออกจากคลังสินค้าเมื่อวันจันทร์และน่าจะมาถึงภายในวันพฤหัสบดี"),
];
