// Texts of the customer's pages: /j (the conversation), /join (the access code) and /t/<team>
// (a team's entry page for customers without an appointment; its texts are at the end).
// Plain, short sentences (about level A2): the readers may know little German and little
// about computers. German is the source; every key exists in every language.
import { register } from "./i18n.js";

register("de", {
  "page.title": "Ihr Beratungsgespräch – Online-Beratung",
  "page.h1": "Ihr Beratungsgespräch",
  "lang.label": "Sprache",
  "conn.connecting": "Verbindung wird hergestellt …",
  "link.missing":
    "Der Link ist nicht vollständig. Bitte öffnen Sie den Link aus Ihrer Einladung noch einmal. Oder geben Sie Ihren Zugangscode ein.",
  "link.enter_code": "Zugangscode eingeben",
  "link.taken_over":
    "Dieser Link ist jetzt in einem anderen Fenster oder auf einem anderen Gerät offen. Um hier weiterzumachen, laden Sie diese Seite neu.",

  "consent.title": "Bevor es losgeht",
  "consent.intro":
    "Sie sprechen gleich mit Ihrer Beraterin / Ihrem Berater vom Jobcenter. Bitte lesen Sie kurz:",
  "consent.direct":
    "Das Gespräch geht direkt von Ihrem Gerät zum Gerät der Beratung. Es wird nicht aufgenommen.",
  "consent.stored":
    "Gespeichert wird nur: wann das Gespräch war, wie lange es gedauert hat und ob per Video, Ton oder Telefon.",
  "consent.name":
    "Wenn Sie Ihren Namen eintippen, sieht ihn nur Ihre Beraterin / Ihr Berater, und nur während des Gesprächs.",
  "consent.tracking": "Es gibt kein Tracking und keine Werbung.",
  "consent.devices": "Erst im nächsten Schritt fragt Ihr Browser nach Kamera und Mikrofon.",
  "consent.check": "Ich habe das gelesen und bin einverstanden.",
  "consent.accept": "Weiter",
  "consent.decline": "Lieber per Telefon",
  "consent.missing":
    "Bitte setzen Sie zuerst den Haken. Oder wählen Sie „Lieber per Telefon“.",

  "check.title": "Kamera, Mikrofon und Internet prüfen",
  "check.asking":
    "Ihr Browser fragt gleich: Darf diese Seite Kamera und Mikrofon benutzen? Bitte tippen Sie auf „Erlauben“.",
  "check.done": "Die Prüfung ist fertig. Bitte wählen Sie unten, wie Sie sprechen möchten.",
  "check.preview": "Ihr Kamerabild",
  "check.cam.wait": "Kamera: wird geprüft …",
  "check.cam.ok": "Kamera: funktioniert. Sie sehen sich im Bild.",
  "check.cam.none": "Kamera: nicht gefunden.",
  "check.cam.denied": "Kamera: nicht erlaubt.",
  "check.cam.busy": "Kamera: wird gerade von einer anderen App benutzt.",
  "check.mic.wait": "Mikrofon: wird geprüft …",
  "check.mic.speak":
    "Mikrofon: gefunden. Bitte sagen Sie etwas. Der Balken bewegt sich, wenn wir Sie hören.",
  "check.mic.ok": "Mikrofon: funktioniert. Wir hören Sie.",
  "check.mic.none": "Mikrofon: nicht gefunden.",
  "check.mic.denied": "Mikrofon: nicht erlaubt.",
  "check.mic.busy": "Mikrofon: wird gerade von einer anderen App benutzt.",
  "check.level": "Lautstärke Ihres Mikrofons",
  "check.level.silent": "still",
  "check.level.low": "leise",
  "check.level.good": "gut zu hören",
  "check.net.wait": "Internet: wird geprüft …",
  "check.net.good": "Internet: gut (Antwort in {ms} ms).",
  "check.net.slow":
    "Internet: langsam (Antwort in {ms} ms). Das Bild kann ruckeln. Nur mit Ton geht es oft besser.",
  "check.net.none": "Internet: keine Verbindung zum Server. Wir versuchen es weiter …",
  "check.net.failed": "Internet: Der Server antwortet nicht richtig.",
  "check.help.denied":
    "Sie können Kamera und Mikrofon in den Einstellungen Ihres Browsers erlauben. Tippen Sie dann auf „Noch einmal prüfen“. Oder sprechen Sie per Telefon.",
  "check.help.nocamera": "Ohne Kamera können Sie nur mit Ton sprechen. Oder per Telefon.",
  "check.help.nomic": "Ohne Mikrofon geht es nur per Telefon.",
  "check.help.insecure":
    "Ihr Browser erlaubt hier keine Kamera und kein Mikrofon. Bitte sprechen Sie per Telefon.",
  "check.continue": "Weiter mit Video",
  "check.audio": "Nur mit Ton (ohne Kamera)",
  "check.phone": "Lieber per Telefon",
  "check.retry": "Noch einmal prüfen",

  "nowebrtc.title": "Video geht mit diesem Browser nicht",
  "nowebrtc.text":
    "Ihr Browser ist zu alt für Video-Gespräche. Das ist kein Problem: Sie können per Telefon sprechen.",
  "nowebrtc.other":
    "Oder öffnen Sie den Link in einem neueren Browser, zum Beispiel Chrome, Firefox oder Safari.",
  "nowebrtc.phone": "Per Telefon sprechen",

  "join.title": "Ihr Name",
  "join.video": "Sie sprechen mit Bild und Ton.",
  "join.audio": "Sie sprechen nur mit Ton, ohne Kamera.",
  "join.text":
    "Sie können Ihren Namen eintippen. Dann weiß Ihre Beraterin / Ihr Berater, wer wartet. Das müssen Sie nicht.",
  "join.name": "Ihr Name (freiwillig)",
  "join.button": "In den Warteraum",
  "join.back": "Zurück",

  "wait.title": "Warteraum",
  "wait.here": "Sie sind im Warteraum.",
  "wait.present": "Ihre Beraterin / Ihr Berater ist da und lässt Sie gleich herein.",
  "wait.absent": "Ihre Beraterin / Ihr Berater ist noch nicht angemeldet. Bitte warten Sie.",
  "wait.next": "Was passiert jetzt?",
  "wait.next1": "Sie müssen nichts tun. Bitte lassen Sie diese Seite offen.",
  "wait.next2": "Das Gespräch beginnt hier auf dieser Seite.",
  "wait.preview": "So sieht man Sie",
  "wait.phone": "Lieber per Telefon",
  "wait.leave": "Warteraum verlassen",
  "wait.back": "Sie sind wieder im Warteraum.",
  "wait.left": "Sie haben den Warteraum verlassen.",

  "call.title": "Ihr Gespräch",
  "call.remote": "Bild Ihrer Beraterin / Ihres Beraters",
  "call.self": "Ihr eigenes Bild",
  "call.audio_note": "Gespräch nur mit Ton",
  "call.mute": "Mikrofon aus",
  "call.camera_off": "Kamera aus",
  "call.to_phone": "Per Telefon weiter",
  "call.leave": "Gespräch beenden",
  "call.muted": "Ihr Mikrofon ist aus. Man hört Sie nicht.",
  "call.camera_is_off": "Ihre Kamera ist aus. Man sieht Sie nicht.",
  "call.play": "Ton einschalten",
  "call.video": "Gespräch mit Bild und Ton.",
  "call.audio": "Gespräch nur mit Ton.",
  "call.connecting": "Verbindung wird aufgebaut …",
  "call.connected": "Verbunden.",
  "call.failed": "Die Verbindung ist fehlgeschlagen.",
  "call.disturbed": "Die Verbindung ist gestört …",
  "call.problem": "Es gab ein Problem mit der Verbindung.",
  "call.peer_media": "Bei Ihrer Beraterin / Ihrem Berater ist die Verbindung gestört.",
  "call.peer_back": "Ihre Beraterin / Ihr Berater ist wieder verbunden.",
  "call.peer_gone": "Ihre Beraterin / Ihr Berater ist kurz nicht verbunden. Bitte warten Sie.",
  "call.fallback": "Die Video-Verbindung klappt nicht. Bitte sprechen Sie per Telefon weiter.",
  "call.phone_now": "Das Gespräch geht per Telefon weiter.",

  "chat.title": "Chat",
  "chat.intro": "Hier können Sie schreiben, zum Beispiel einen Namen oder eine Nummer.",
  "chat.label": "Ihre Nachricht",
  "chat.send": "Senden",
  "chat.you": "Sie",
  "chat.counsellor": "Beratung",
  "chat.empty": "Bitte schreiben Sie zuerst etwas.",
  "chat.failed": "Die Nachricht wurde nicht gesendet.",
  "chat.none": "Noch keine Nachrichten.",

  "phone.title": "Per Telefon sprechen",
  "phone.call": "Rufen Sie diese Nummer an:",
  "phone.pin": "Geben Sie dann diese PIN ein:",
  "phone.keep_open": "Bitte lassen Sie diese Seite offen, bis das Gespräch vorbei ist.",
  "phone.back": "Doch lieber per Video",

  "ended.title": "Gespräch beendet",
  "ended.close": "Sie können dieses Fenster jetzt schließen.",
  "end.default": "Das Gespräch ist beendet.",
  "end.completed": "Danke für das Gespräch.",
  "end.customer_left": "Sie haben das Gespräch beendet.",
  "end.no_show": "Der Termin wurde nicht wahrgenommen.",
  "end.connection_failed": "Das Gespräch wurde wegen Verbindungsproblemen beendet.",
  "end.timeout": "Die Verbindung ist abgebrochen.",
  "end.interrupted": "Das Gespräch wurde unterbrochen.",
  "end.cancelled": "Der Termin wurde abgesagt.",

  "code.page_title": "Zugangscode eingeben – Online-Beratung",
  "code.h1": "Online-Beratung",
  "code.title": "Zugangscode eingeben",
  "code.label": "Zugangscode (9 Ziffern)",
  "code.help":
    "Den Code finden Sie in Ihrer Einladung. Oder Ihre Beraterin / Ihr Berater sagt ihn Ihnen.",
  "code.submit": "Weiter",
  "code.nine": "Der Zugangscode hat 9 Ziffern. Bitte prüfen Sie Ihre Eingabe.",
  "code.checking": "Der Code wird geprüft …",
  "code.home": "Zurück zur Startseite",
  "rate.question": "Wie zufrieden waren Sie mit dem Gespräch? (freiwillig)",
  "rate.5": "sehr zufrieden",
  "rate.4": "zufrieden",
  "rate.3": "teils, teils",
  "rate.2": "unzufrieden",
  "rate.1": "sehr unzufrieden",
  "rate.send": "Bewertung senden",
  "rate.choose": "Bitte wählen Sie zuerst eine Bewertung aus.",
  "rate.thanks": "Danke für Ihre Rückmeldung.",
});

register("en", {
  "page.title": "Your counselling appointment – online counselling",
  "page.h1": "Your counselling appointment",
  "lang.label": "Language",
  "conn.connecting": "Connecting …",
  "link.missing":
    "The link is not complete. Please open the link in your invitation again. Or enter your access code.",
  "link.enter_code": "Enter access code",
  "link.taken_over":
    "This link is now open in another window or on another device. To go on here, reload this page.",

  "consent.title": "Before we start",
  "consent.intro":
    "You will talk to your counsellor from the Jobcenter. Please read this first:",
  "consent.direct":
    "The conversation goes directly from your device to the counsellor's device. It is not recorded.",
  "consent.stored":
    "We only store: when the conversation was, how long it took, and if it was by video, sound only or phone.",
  "consent.name":
    "If you type your name, only your counsellor sees it, and only during the conversation.",
  "consent.tracking": "There is no tracking and no advertising.",
  "consent.devices": "Only in the next step will your browser ask for the camera and microphone.",
  "consent.check": "I have read this and I agree.",
  "consent.accept": "Continue",
  "consent.decline": "I prefer the phone",
  "consent.missing": "Please tick the box first. Or choose “I prefer the phone”.",

  "check.title": "Check camera, microphone and internet",
  "check.asking":
    "Your browser will ask: may this page use the camera and microphone? Please tap “Allow”.",
  "check.done": "The check is finished. Please choose below how you want to talk.",
  "check.preview": "Your camera picture",
  "check.cam.wait": "Camera: checking …",
  "check.cam.ok": "Camera: works. You can see yourself in the picture.",
  "check.cam.none": "Camera: not found.",
  "check.cam.denied": "Camera: not allowed.",
  "check.cam.busy": "Camera: another app is using it right now.",
  "check.mic.wait": "Microphone: checking …",
  "check.mic.speak":
    "Microphone: found. Please say something. The bar moves when we can hear you.",
  "check.mic.ok": "Microphone: works. We can hear you.",
  "check.mic.none": "Microphone: not found.",
  "check.mic.denied": "Microphone: not allowed.",
  "check.mic.busy": "Microphone: another app is using it right now.",
  "check.level": "Volume of your microphone",
  "check.level.silent": "silent",
  "check.level.low": "quiet",
  "check.level.good": "easy to hear",
  "check.net.wait": "Internet: checking …",
  "check.net.good": "Internet: good (answer in {ms} ms).",
  "check.net.slow":
    "Internet: slow (answer in {ms} ms). The picture may freeze. Sound only often works better.",
  "check.net.none": "Internet: no connection to the server. We keep trying …",
  "check.net.failed": "Internet: the server does not answer correctly.",
  "check.help.denied":
    "You can allow the camera and microphone in your browser settings. Then tap “Check again”. Or talk by phone.",
  "check.help.nocamera": "Without a camera you can talk with sound only. Or by phone.",
  "check.help.nomic": "Without a microphone you can only talk by phone.",
  "check.help.insecure":
    "Your browser does not allow the camera and microphone here. Please talk by phone.",
  "check.continue": "Continue with video",
  "check.audio": "Sound only (no camera)",
  "check.phone": "I prefer the phone",
  "check.retry": "Check again",

  "nowebrtc.title": "Video does not work with this browser",
  "nowebrtc.text":
    "Your browser is too old for video calls. That is no problem: you can talk by phone.",
  "nowebrtc.other":
    "Or open the link in a newer browser, for example Chrome, Firefox or Safari.",
  "nowebrtc.phone": "Talk by phone",

  "join.title": "Your name",
  "join.video": "You will talk with picture and sound.",
  "join.audio": "You will talk with sound only, without a camera.",
  "join.text":
    "You can type your name. Then your counsellor knows who is waiting. You do not have to.",
  "join.name": "Your name (optional)",
  "join.button": "Go to the waiting room",
  "join.back": "Back",

  "wait.title": "Waiting room",
  "wait.here": "You are in the waiting room.",
  "wait.present": "Your counsellor is here and will let you in soon.",
  "wait.absent": "Your counsellor is not signed in yet. Please wait.",
  "wait.next": "What happens now?",
  "wait.next1": "You do not have to do anything. Please keep this page open.",
  "wait.next2": "The conversation starts here on this page.",
  "wait.preview": "This is how others see you",
  "wait.phone": "I prefer the phone",
  "wait.leave": "Leave the waiting room",
  "wait.back": "You are back in the waiting room.",
  "wait.left": "You have left the waiting room.",

  "call.title": "Your conversation",
  "call.remote": "Picture of your counsellor",
  "call.self": "Your own picture",
  "call.audio_note": "Sound only",
  "call.mute": "Microphone off",
  "call.camera_off": "Camera off",
  "call.to_phone": "Continue by phone",
  "call.leave": "End conversation",
  "call.muted": "Your microphone is off. Nobody can hear you.",
  "call.camera_is_off": "Your camera is off. Nobody can see you.",
  "call.play": "Turn on sound",
  "call.video": "Conversation with picture and sound.",
  "call.audio": "Conversation with sound only.",
  "call.connecting": "Connecting …",
  "call.connected": "Connected.",
  "call.failed": "The connection failed.",
  "call.disturbed": "The connection is disturbed …",
  "call.problem": "There was a problem with the connection.",
  "call.peer_media": "Your counsellor has a problem with the connection.",
  "call.peer_back": "Your counsellor is connected again.",
  "call.peer_gone": "Your counsellor is not connected for a moment. Please wait.",
  "call.fallback": "The video connection does not work. Please continue by phone.",
  "call.phone_now": "The conversation continues by phone.",

  "chat.title": "Chat",
  "chat.intro": "You can write here, for example a name or a number.",
  "chat.label": "Your message",
  "chat.send": "Send",
  "chat.you": "You",
  "chat.counsellor": "Counsellor",
  "chat.empty": "Please write something first.",
  "chat.failed": "The message was not sent.",
  "chat.none": "No messages yet.",

  "phone.title": "Talk by phone",
  "phone.call": "Call this number:",
  "phone.pin": "Then enter this PIN:",
  "phone.keep_open": "Please keep this page open until the conversation is over.",
  "phone.back": "Video after all",

  "ended.title": "Conversation ended",
  "ended.close": "You can close this window now.",
  "end.default": "The conversation has ended.",
  "end.completed": "Thank you for the conversation.",
  "end.customer_left": "You ended the conversation.",
  "end.no_show": "The appointment was missed.",
  "end.connection_failed": "The conversation ended because of connection problems.",
  "end.timeout": "The connection was lost.",
  "end.interrupted": "The conversation was interrupted.",
  "end.cancelled": "The appointment was cancelled.",

  "code.page_title": "Enter access code – online counselling",
  "code.h1": "Online counselling",
  "code.title": "Enter access code",
  "code.label": "Access code (9 digits)",
  "code.help": "You find the code in your invitation. Or your counsellor tells it to you.",
  "code.submit": "Continue",
  "code.nine": "The access code has 9 digits. Please check what you typed.",
  "code.checking": "Checking the code …",
  "code.home": "Back to the start page",
  "rate.question": "How satisfied were you with the conversation? (optional)",
  "rate.5": "very satisfied",
  "rate.4": "satisfied",
  "rate.3": "neither",
  "rate.2": "dissatisfied",
  "rate.1": "very dissatisfied",
  "rate.send": "Send rating",
  "rate.choose": "Please choose a rating first.",
  "rate.thanks": "Thank you for your feedback.",
});

register("tr", {
  "page.title": "Danışmanlık görüşmeniz – Online danışmanlık",
  "page.h1": "Danışmanlık görüşmeniz",
  "lang.label": "Dil",
  "conn.connecting": "Bağlantı kuruluyor …",
  "link.missing":
    "Bağlantı eksik. Lütfen davetinizdeki bağlantıyı tekrar açın. Ya da erişim kodunuzu girin.",
  "link.enter_code": "Erişim kodunu girin",
  "link.taken_over":
    "Bu bağlantı şimdi başka bir pencerede veya başka bir cihazda açık. Burada devam etmek için bu sayfayı yeniden yükleyin.",

  "consent.title": "Başlamadan önce",
  "consent.intro":
    "Birazdan Jobcenter'daki danışmanınızla konuşacaksınız. Lütfen önce bunu okuyun:",
  "consent.direct":
    "Görüşme doğrudan sizin cihazınızdan danışmanın cihazına gider. Kayıt yapılmaz.",
  "consent.stored":
    "Sadece şunlar kaydedilir: görüşmenin ne zaman olduğu, ne kadar sürdüğü ve görüntülü, sesli ya da telefonla mı olduğu.",
  "consent.name":
    "Adınızı yazarsanız, onu sadece danışmanınız görür ve sadece görüşme sırasında.",
  "consent.tracking": "İzleme (tracking) ve reklam yoktur.",
  "consent.devices": "Tarayıcınız kamera ve mikrofonu ancak bir sonraki adımda sorar.",
  "consent.check": "Bunu okudum ve kabul ediyorum.",
  "consent.accept": "Devam",
  "consent.decline": "Telefonla konuşmak istiyorum",
  "consent.missing":
    "Lütfen önce kutuyu işaretleyin. Ya da „Telefonla konuşmak istiyorum“ seçin.",

  "check.title": "Kamera, mikrofon ve interneti kontrol edin",
  "check.asking":
    "Tarayıcınız birazdan soracak: Bu sayfa kamera ve mikrofonu kullanabilir mi? Lütfen „İzin ver“e dokunun.",
  "check.done": "Kontrol bitti. Lütfen aşağıda nasıl konuşmak istediğinizi seçin.",
  "check.preview": "Kamera görüntünüz",
  "check.cam.wait": "Kamera: kontrol ediliyor …",
  "check.cam.ok": "Kamera: çalışıyor. Kendinizi görüntüde görüyorsunuz.",
  "check.cam.none": "Kamera: bulunamadı.",
  "check.cam.denied": "Kamera: izin verilmedi.",
  "check.cam.busy": "Kamera: şu anda başka bir uygulama kullanıyor.",
  "check.mic.wait": "Mikrofon: kontrol ediliyor …",
  "check.mic.speak":
    "Mikrofon: bulundu. Lütfen bir şey söyleyin. Sizi duyduğumuzda çubuk hareket eder.",
  "check.mic.ok": "Mikrofon: çalışıyor. Sizi duyuyoruz.",
  "check.mic.none": "Mikrofon: bulunamadı.",
  "check.mic.denied": "Mikrofon: izin verilmedi.",
  "check.mic.busy": "Mikrofon: şu anda başka bir uygulama kullanıyor.",
  "check.level": "Mikrofonunuzun ses seviyesi",
  "check.level.silent": "sessiz",
  "check.level.low": "alçak",
  "check.level.good": "iyi duyuluyor",
  "check.net.wait": "İnternet: kontrol ediliyor …",
  "check.net.good": "İnternet: iyi ({ms} ms içinde cevap).",
  "check.net.slow":
    "İnternet: yavaş ({ms} ms içinde cevap). Görüntü takılabilir. Sadece sesle genelde daha iyi olur.",
  "check.net.none": "İnternet: sunucuya bağlantı yok. Tekrar deniyoruz …",
  "check.net.failed": "İnternet: sunucu doğru cevap vermiyor.",
  "check.help.denied":
    "Kamera ve mikrofona tarayıcınızın ayarlarından izin verebilirsiniz. Sonra „Tekrar kontrol et“e dokunun. Ya da telefonla konuşun.",
  "check.help.nocamera": "Kamera olmadan sadece sesle konuşabilirsiniz. Ya da telefonla.",
  "check.help.nomic": "Mikrofon olmadan sadece telefonla konuşabilirsiniz.",
  "check.help.insecure":
    "Tarayıcınız burada kamera ve mikrofona izin vermiyor. Lütfen telefonla konuşun.",
  "check.continue": "Görüntülü devam et",
  "check.audio": "Sadece sesli (kamerasız)",
  "check.phone": "Telefonla konuşmak istiyorum",
  "check.retry": "Tekrar kontrol et",

  "nowebrtc.title": "Bu tarayıcıyla görüntülü görüşme olmuyor",
  "nowebrtc.text":
    "Tarayıcınız görüntülü görüşme için çok eski. Sorun değil: telefonla konuşabilirsiniz.",
  "nowebrtc.other":
    "Ya da bağlantıyı daha yeni bir tarayıcıda açın, örneğin Chrome, Firefox veya Safari.",
  "nowebrtc.phone": "Telefonla konuş",

  "join.title": "Adınız",
  "join.video": "Görüntülü ve sesli konuşacaksınız.",
  "join.audio": "Kamerasız, sadece sesli konuşacaksınız.",
  "join.text":
    "Adınızı yazabilirsiniz. O zaman danışmanınız kimin beklediğini bilir. Yazmak zorunda değilsiniz.",
  "join.name": "Adınız (isteğe bağlı)",
  "join.button": "Bekleme odasına gir",
  "join.back": "Geri",

  "wait.title": "Bekleme odası",
  "wait.here": "Bekleme odasındasınız.",
  "wait.present": "Danışmanınız burada ve sizi birazdan içeri alacak.",
  "wait.absent": "Danışmanınız henüz giriş yapmadı. Lütfen bekleyin.",
  "wait.next": "Şimdi ne olacak?",
  "wait.next1": "Bir şey yapmanız gerekmiyor. Lütfen bu sayfayı açık bırakın.",
  "wait.next2": "Görüşme burada, bu sayfada başlar.",
  "wait.preview": "Sizi böyle görüyorlar",
  "wait.phone": "Telefonla konuşmak istiyorum",
  "wait.leave": "Bekleme odasından çık",
  "wait.back": "Tekrar bekleme odasındasınız.",
  "wait.left": "Bekleme odasından çıktınız.",

  "call.title": "Görüşmeniz",
  "call.remote": "Danışmanınızın görüntüsü",
  "call.self": "Kendi görüntünüz",
  "call.audio_note": "Sadece sesli görüşme",
  "call.mute": "Mikrofonu kapat",
  "call.camera_off": "Kamerayı kapat",
  "call.to_phone": "Telefonla devam et",
  "call.leave": "Görüşmeyi bitir",
  "call.muted": "Mikrofonunuz kapalı. Sizi kimse duymuyor.",
  "call.camera_is_off": "Kameranız kapalı. Sizi kimse görmüyor.",
  "call.play": "Sesi aç",
  "call.video": "Görüntülü ve sesli görüşme.",
  "call.audio": "Sadece sesli görüşme.",
  "call.connecting": "Bağlantı kuruluyor …",
  "call.connected": "Bağlandı.",
  "call.failed": "Bağlantı kurulamadı.",
  "call.disturbed": "Bağlantıda sorun var …",
  "call.problem": "Bağlantıda bir sorun oldu.",
  "call.peer_media": "Danışmanınızın bağlantısında sorun var.",
  "call.peer_back": "Danışmanınız tekrar bağlandı.",
  "call.peer_gone": "Danışmanınız kısa bir süre bağlı değil. Lütfen bekleyin.",
  "call.fallback": "Görüntülü bağlantı çalışmıyor. Lütfen telefonla devam edin.",
  "call.phone_now": "Görüşme telefonla devam ediyor.",

  "chat.title": "Sohbet",
  "chat.intro": "Buraya yazabilirsiniz, örneğin bir isim veya bir numara.",
  "chat.label": "Mesajınız",
  "chat.send": "Gönder",
  "chat.you": "Siz",
  "chat.counsellor": "Danışman",
  "chat.empty": "Lütfen önce bir şey yazın.",
  "chat.failed": "Mesaj gönderilmedi.",
  "chat.none": "Henüz mesaj yok.",

  "phone.title": "Telefonla konuşun",
  "phone.call": "Bu numarayı arayın:",
  "phone.pin": "Sonra bu PIN'i girin:",
  "phone.keep_open": "Lütfen görüşme bitene kadar bu sayfayı açık bırakın.",
  "phone.back": "Yine de görüntülü",

  "ended.title": "Görüşme bitti",
  "ended.close": "Bu pencereyi şimdi kapatabilirsiniz.",
  "end.default": "Görüşme bitti.",
  "end.completed": "Görüşme için teşekkürler.",
  "end.customer_left": "Görüşmeyi bitirdiniz.",
  "end.no_show": "Randevuya gelinmedi.",
  "end.connection_failed": "Görüşme bağlantı sorunları nedeniyle bitti.",
  "end.timeout": "Bağlantı koptu.",
  "end.interrupted": "Görüşme yarıda kesildi.",
  "end.cancelled": "Randevu iptal edildi.",

  "code.page_title": "Erişim kodunu girin – Online danışmanlık",
  "code.h1": "Online danışmanlık",
  "code.title": "Erişim kodunu girin",
  "code.label": "Erişim kodu (9 rakam)",
  "code.help": "Kodu davetinizde bulursunuz. Ya da danışmanınız size söyler.",
  "code.submit": "Devam",
  "code.nine": "Erişim kodu 9 rakamdan oluşur. Lütfen yazdığınızı kontrol edin.",
  "code.checking": "Kod kontrol ediliyor …",
  "code.home": "Ana sayfaya dön",
  "rate.question": "Görüşmeden ne kadar memnun kaldınız? (isteğe bağlı)",
  "rate.5": "çok memnun",
  "rate.4": "memnun",
  "rate.3": "kısmen",
  "rate.2": "memnun değil",
  "rate.1": "hiç memnun değil",
  "rate.send": "Değerlendirmeyi gönder",
  "rate.choose": "Lütfen önce bir değerlendirme seçin.",
  "rate.thanks": "Geri bildiriminiz için teşekkürler.",
});

register("ar", {
  "page.title": "موعد الاستشارة – استشارة عبر الإنترنت",
  "page.h1": "موعد الاستشارة",
  "lang.label": "اللغة",
  "conn.connecting": "جارٍ الاتصال …",
  "link.missing":
    "الرابط غير كامل. من فضلك افتح الرابط من دعوتك مرة أخرى. أو أدخل رمز الدخول.",
  "link.enter_code": "إدخال رمز الدخول",
  "link.taken_over":
    "هذا الرابط مفتوح الآن في نافذة أخرى أو على جهاز آخر. لتكمل هنا، أعد تحميل هذه الصفحة.",

  "consent.title": "قبل أن نبدأ",
  "consent.intro": "ستتحدث بعد قليل مع المستشار أو المستشارة من مركز العمل (Jobcenter). من فضلك اقرأ هذا أولاً:",
  "consent.direct": "المحادثة تذهب مباشرة من جهازك إلى جهاز المستشار. لا يتم تسجيلها.",
  "consent.stored":
    "نحفظ فقط: متى كانت المحادثة، وكم استمرت، وهل كانت بالفيديو أو بالصوت فقط أو بالهاتف.",
  "consent.name": "إذا كتبت اسمك، يراه المستشار فقط، وفقط أثناء المحادثة.",
  "consent.tracking": "لا يوجد تتبع ولا إعلانات.",
  "consent.devices": "في الخطوة التالية فقط سيسألك المتصفح عن الكاميرا والميكروفون.",
  "consent.check": "قرأت هذا وأنا موافق.",
  "consent.accept": "متابعة",
  "consent.decline": "أفضّل الهاتف",
  "consent.missing": "من فضلك ضع علامة في المربع أولاً. أو اختر «أفضّل الهاتف».",

  "check.title": "فحص الكاميرا والميكروفون والإنترنت",
  "check.asking":
    "سيسألك المتصفح الآن: هل تسمح لهذه الصفحة باستخدام الكاميرا والميكروفون؟ من فضلك اضغط على «سماح».",
  "check.done": "انتهى الفحص. من فضلك اختر في الأسفل كيف تريد أن تتحدث.",
  "check.preview": "صورة الكاميرا الخاصة بك",
  "check.cam.wait": "الكاميرا: جارٍ الفحص …",
  "check.cam.ok": "الكاميرا: تعمل. أنت ترى نفسك في الصورة.",
  "check.cam.none": "الكاميرا: غير موجودة.",
  "check.cam.denied": "الكاميرا: غير مسموح بها.",
  "check.cam.busy": "الكاميرا: يستخدمها الآن تطبيق آخر.",
  "check.mic.wait": "الميكروفون: جارٍ الفحص …",
  "check.mic.speak": "الميكروفون: موجود. من فضلك قل شيئاً. الشريط يتحرك عندما نسمعك.",
  "check.mic.ok": "الميكروفون: يعمل. نحن نسمعك.",
  "check.mic.none": "الميكروفون: غير موجود.",
  "check.mic.denied": "الميكروفون: غير مسموح به.",
  "check.mic.busy": "الميكروفون: يستخدمه الآن تطبيق آخر.",
  "check.level": "مستوى صوت الميكروفون",
  "check.level.silent": "صامت",
  "check.level.low": "منخفض",
  "check.level.good": "مسموع جيداً",
  "check.net.wait": "الإنترنت: جارٍ الفحص …",
  "check.net.good": "الإنترنت: جيد (الرد خلال {ms} ملّي ثانية).",
  "check.net.slow":
    "الإنترنت: بطيء (الرد خلال {ms} ملّي ثانية). قد تتقطع الصورة. الصوت فقط يعمل غالباً بشكل أفضل.",
  "check.net.none": "الإنترنت: لا يوجد اتصال بالخادم. نحاول مرة أخرى …",
  "check.net.failed": "الإنترنت: الخادم لا يرد بشكل صحيح.",
  "check.help.denied":
    "يمكنك السماح بالكاميرا والميكروفون في إعدادات المتصفح. ثم اضغط على «فحص مرة أخرى». أو تحدث بالهاتف.",
  "check.help.nocamera": "بدون كاميرا يمكنك التحدث بالصوت فقط. أو بالهاتف.",
  "check.help.nomic": "بدون ميكروفون يمكنك التحدث بالهاتف فقط.",
  "check.help.insecure": "المتصفح لا يسمح هنا بالكاميرا والميكروفون. من فضلك تحدث بالهاتف.",
  "check.continue": "متابعة بالفيديو",
  "check.audio": "بالصوت فقط (بدون كاميرا)",
  "check.phone": "أفضّل الهاتف",
  "check.retry": "فحص مرة أخرى",

  "nowebrtc.title": "الفيديو لا يعمل مع هذا المتصفح",
  "nowebrtc.text": "متصفحك قديم جداً لمكالمات الفيديو. لا مشكلة: يمكنك التحدث بالهاتف.",
  "nowebrtc.other": "أو افتح الرابط في متصفح أحدث، مثلاً Chrome أو Firefox أو Safari.",
  "nowebrtc.phone": "التحدث بالهاتف",

  "join.title": "اسمك",
  "join.video": "ستتحدث بالصورة والصوت.",
  "join.audio": "ستتحدث بالصوت فقط، بدون كاميرا.",
  "join.text": "يمكنك كتابة اسمك. عندها يعرف المستشار من ينتظر. هذا ليس إلزامياً.",
  "join.name": "اسمك (اختياري)",
  "join.button": "الدخول إلى غرفة الانتظار",
  "join.back": "رجوع",

  "wait.title": "غرفة الانتظار",
  "wait.here": "أنت في غرفة الانتظار.",
  "wait.present": "المستشار أو المستشارة موجود وسيُدخلك بعد قليل.",
  "wait.absent": "المستشار أو المستشارة لم يسجّل الدخول بعد. من فضلك انتظر.",
  "wait.next": "ماذا يحدث الآن؟",
  "wait.next1": "لا تحتاج إلى فعل شيء. من فضلك اترك هذه الصفحة مفتوحة.",
  "wait.next2": "تبدأ المحادثة هنا في هذه الصفحة.",
  "wait.preview": "هكذا يراك الآخرون",
  "wait.phone": "أفضّل الهاتف",
  "wait.leave": "مغادرة غرفة الانتظار",
  "wait.back": "أنت مرة أخرى في غرفة الانتظار.",
  "wait.left": "لقد غادرت غرفة الانتظار.",

  "call.title": "محادثتك",
  "call.remote": "صورة المستشار أو المستشارة",
  "call.self": "صورتك أنت",
  "call.audio_note": "محادثة بالصوت فقط",
  "call.mute": "إيقاف الميكروفون",
  "call.camera_off": "إيقاف الكاميرا",
  "call.to_phone": "المتابعة بالهاتف",
  "call.leave": "إنهاء المحادثة",
  "call.muted": "الميكروفون متوقف. لا أحد يسمعك.",
  "call.camera_is_off": "الكاميرا متوقفة. لا أحد يراك.",
  "call.play": "تشغيل الصوت",
  "call.video": "محادثة بالصورة والصوت.",
  "call.audio": "محادثة بالصوت فقط.",
  "call.connecting": "جارٍ الاتصال …",
  "call.connected": "متصل.",
  "call.failed": "فشل الاتصال.",
  "call.disturbed": "الاتصال غير مستقر …",
  "call.problem": "حدثت مشكلة في الاتصال.",
  "call.peer_media": "عند المستشار مشكلة في الاتصال.",
  "call.peer_back": "المستشار متصل مرة أخرى.",
  "call.peer_gone": "المستشار غير متصل للحظة. من فضلك انتظر.",
  "call.fallback": "اتصال الفيديو لا يعمل. من فضلك تابع بالهاتف.",
  "call.phone_now": "المحادثة مستمرة بالهاتف.",

  "chat.title": "الدردشة",
  "chat.intro": "يمكنك الكتابة هنا، مثلاً اسماً أو رقماً.",
  "chat.label": "رسالتك",
  "chat.send": "إرسال",
  "chat.you": "أنت",
  "chat.counsellor": "المستشار",
  "chat.empty": "من فضلك اكتب شيئاً أولاً.",
  "chat.failed": "لم يتم إرسال الرسالة.",
  "chat.none": "لا توجد رسائل بعد.",

  "phone.title": "التحدث بالهاتف",
  "phone.call": "اتصل بهذا الرقم:",
  "phone.pin": "ثم أدخل هذا الرقم السري (PIN):",
  "phone.keep_open": "من فضلك اترك هذه الصفحة مفتوحة حتى تنتهي المحادثة.",
  "phone.back": "بالفيديو بعد كل شيء",

  "ended.title": "انتهت المحادثة",
  "ended.close": "يمكنك الآن إغلاق هذه النافذة.",
  "end.default": "انتهت المحادثة.",
  "end.completed": "شكراً على المحادثة.",
  "end.customer_left": "لقد أنهيت المحادثة.",
  "end.no_show": "لم يتم الحضور إلى الموعد.",
  "end.connection_failed": "انتهت المحادثة بسبب مشاكل في الاتصال.",
  "end.timeout": "انقطع الاتصال.",
  "end.interrupted": "توقفت المحادثة.",
  "end.cancelled": "تم إلغاء الموعد.",

  "code.page_title": "إدخال رمز الدخول – استشارة عبر الإنترنت",
  "code.h1": "استشارة عبر الإنترنت",
  "code.title": "إدخال رمز الدخول",
  "code.label": "رمز الدخول (9 أرقام)",
  "code.help": "تجد الرمز في دعوتك. أو يخبرك به المستشار.",
  "code.submit": "متابعة",
  "code.nine": "رمز الدخول مكوّن من 9 أرقام. من فضلك تحقق مما كتبته.",
  "code.checking": "جارٍ فحص الرمز …",
  "code.home": "العودة إلى الصفحة الرئيسية",
  "rate.question": "ما مدى رضاك عن المحادثة؟ (اختياري)",
  "rate.5": "راضٍ جدًا",
  "rate.4": "راضٍ",
  "rate.3": "بين بين",
  "rate.2": "غير راضٍ",
  "rate.1": "غير راضٍ على الإطلاق",
  "rate.send": "إرسال التقييم",
  "rate.choose": "يرجى اختيار تقييم أولًا.",
  "rate.thanks": "شكرًا على ملاحظاتك.",
});

register("uk", {
  "page.title": "Ваша консультація – онлайн-консультація",
  "page.h1": "Ваша консультація",
  "lang.label": "Мова",
  "conn.connecting": "З'єднання …",
  "link.missing":
    "Посилання неповне. Будь ласка, відкрийте посилання з вашого запрошення ще раз. Або введіть код доступу.",
  "link.enter_code": "Ввести код доступу",
  "link.taken_over":
    "Це посилання зараз відкрите в іншому вікні або на іншому пристрої. Щоб продовжити тут, оновіть цю сторінку.",

  "consent.title": "Перед початком",
  "consent.intro":
    "Зараз ви будете говорити з вашим консультантом або консультанткою з Jobcenter. Будь ласка, спочатку прочитайте:",
  "consent.direct":
    "Розмова йде напряму з вашого пристрою на пристрій консультанта. Її не записують.",
  "consent.stored":
    "Зберігається тільки: коли була розмова, скільки вона тривала і чи була вона з відео, тільки зі звуком або телефоном.",
  "consent.name":
    "Якщо ви напишете своє ім'я, його бачить тільки ваш консультант і тільки під час розмови.",
  "consent.tracking": "Тут немає стеження (трекінгу) і немає реклами.",
  "consent.devices": "Тільки на наступному кроці браузер запитає про камеру і мікрофон.",
  "consent.check": "Я це прочитав(-ла) і погоджуюся.",
  "consent.accept": "Далі",
  "consent.decline": "Краще телефоном",
  "consent.missing":
    "Будь ласка, спочатку поставте позначку. Або виберіть «Краще телефоном».",

  "check.title": "Перевірка камери, мікрофона та інтернету",
  "check.asking":
    "Браузер зараз запитає: чи може ця сторінка використовувати камеру і мікрофон? Будь ласка, натисніть «Дозволити».",
  "check.done": "Перевірку завершено. Будь ласка, виберіть нижче, як ви хочете говорити.",
  "check.preview": "Зображення з вашої камери",
  "check.cam.wait": "Камера: перевірка …",
  "check.cam.ok": "Камера: працює. Ви бачите себе на зображенні.",
  "check.cam.none": "Камера: не знайдена.",
  "check.cam.denied": "Камера: не дозволено.",
  "check.cam.busy": "Камера: зараз її використовує інша програма.",
  "check.mic.wait": "Мікрофон: перевірка …",
  "check.mic.speak":
    "Мікрофон: знайдено. Будь ласка, скажіть щось. Смужка рухається, коли ми вас чуємо.",
  "check.mic.ok": "Мікрофон: працює. Ми вас чуємо.",
  "check.mic.none": "Мікрофон: не знайдено.",
  "check.mic.denied": "Мікрофон: не дозволено.",
  "check.mic.busy": "Мікрофон: зараз його використовує інша програма.",
  "check.level": "Гучність вашого мікрофона",
  "check.level.silent": "тиша",
  "check.level.low": "тихо",
  "check.level.good": "добре чутно",
  "check.net.wait": "Інтернет: перевірка …",
  "check.net.good": "Інтернет: добре (відповідь за {ms} мс).",
  "check.net.slow":
    "Інтернет: повільно (відповідь за {ms} мс). Зображення може зависати. Тільки зі звуком часто працює краще.",
  "check.net.none": "Інтернет: немає з'єднання з сервером. Ми пробуємо далі …",
  "check.net.failed": "Інтернет: сервер відповідає неправильно.",
  "check.help.denied":
    "Ви можете дозволити камеру і мікрофон у налаштуваннях браузера. Потім натисніть «Перевірити ще раз». Або говоріть телефоном.",
  "check.help.nocamera": "Без камери можна говорити тільки зі звуком. Або телефоном.",
  "check.help.nomic": "Без мікрофона можна говорити тільки телефоном.",
  "check.help.insecure":
    "Ваш браузер тут не дозволяє камеру і мікрофон. Будь ласка, говоріть телефоном.",
  "check.continue": "Далі з відео",
  "check.audio": "Тільки звук (без камери)",
  "check.phone": "Краще телефоном",
  "check.retry": "Перевірити ще раз",

  "nowebrtc.title": "Відео не працює в цьому браузері",
  "nowebrtc.text":
    "Ваш браузер застарий для відеодзвінків. Це не проблема: ви можете говорити телефоном.",
  "nowebrtc.other":
    "Або відкрийте посилання в новішому браузері, наприклад Chrome, Firefox або Safari.",
  "nowebrtc.phone": "Говорити телефоном",

  "join.title": "Ваше ім'я",
  "join.video": "Ви будете говорити із зображенням і звуком.",
  "join.audio": "Ви будете говорити тільки зі звуком, без камери.",
  "join.text":
    "Ви можете написати своє ім'я. Тоді ваш консультант знає, хто чекає. Це не обов'язково.",
  "join.name": "Ваше ім'я (за бажанням)",
  "join.button": "До кімнати очікування",
  "join.back": "Назад",

  "wait.title": "Кімната очікування",
  "wait.here": "Ви в кімнаті очікування.",
  "wait.present": "Ваш консультант уже тут і скоро впустить вас.",
  "wait.absent": "Ваш консультант ще не увійшов у систему. Будь ласка, зачекайте.",
  "wait.next": "Що буде далі?",
  "wait.next1": "Вам нічого не треба робити. Будь ласка, не закривайте цю сторінку.",
  "wait.next2": "Розмова почнеться тут, на цій сторінці.",
  "wait.preview": "Так вас бачать",
  "wait.phone": "Краще телефоном",
  "wait.leave": "Вийти з кімнати очікування",
  "wait.back": "Ви знову в кімнаті очікування.",
  "wait.left": "Ви вийшли з кімнати очікування.",

  "call.title": "Ваша розмова",
  "call.remote": "Зображення вашого консультанта",
  "call.self": "Ваше власне зображення",
  "call.audio_note": "Розмова тільки зі звуком",
  "call.mute": "Вимкнути мікрофон",
  "call.camera_off": "Вимкнути камеру",
  "call.to_phone": "Продовжити телефоном",
  "call.leave": "Завершити розмову",
  "call.muted": "Ваш мікрофон вимкнено. Вас ніхто не чує.",
  "call.camera_is_off": "Вашу камеру вимкнено. Вас ніхто не бачить.",
  "call.play": "Увімкнути звук",
  "call.video": "Розмова із зображенням і звуком.",
  "call.audio": "Розмова тільки зі звуком.",
  "call.connecting": "З'єднання …",
  "call.connected": "З'єднано.",
  "call.failed": "З'єднання не вдалося.",
  "call.disturbed": "З'єднання порушене …",
  "call.problem": "Виникла проблема зі з'єднанням.",
  "call.peer_media": "У вашого консультанта проблема зі з'єднанням.",
  "call.peer_back": "Ваш консультант знову на зв'язку.",
  "call.peer_gone": "Ваш консультант ненадовго не на зв'язку. Будь ласка, зачекайте.",
  "call.fallback": "Відеозв'язок не працює. Будь ласка, продовжіть телефоном.",
  "call.phone_now": "Розмова продовжується телефоном.",

  "chat.title": "Чат",
  "chat.intro": "Тут можна писати, наприклад ім'я або номер.",
  "chat.label": "Ваше повідомлення",
  "chat.send": "Надіслати",
  "chat.you": "Ви",
  "chat.counsellor": "Консультант",
  "chat.empty": "Будь ласка, спочатку щось напишіть.",
  "chat.failed": "Повідомлення не надіслано.",
  "chat.none": "Ще немає повідомлень.",

  "phone.title": "Говорити телефоном",
  "phone.call": "Зателефонуйте за цим номером:",
  "phone.pin": "Потім введіть цей PIN:",
  "phone.keep_open": "Будь ласка, не закривайте цю сторінку, доки розмова не закінчиться.",
  "phone.back": "Все ж таки відео",

  "ended.title": "Розмову завершено",
  "ended.close": "Тепер ви можете закрити це вікно.",
  "end.default": "Розмову завершено.",
  "end.completed": "Дякуємо за розмову.",
  "end.customer_left": "Ви завершили розмову.",
  "end.no_show": "На зустріч ніхто не прийшов.",
  "end.connection_failed": "Розмову завершено через проблеми зі з'єднанням.",
  "end.timeout": "З'єднання обірвалося.",
  "end.interrupted": "Розмову перервано.",
  "end.cancelled": "Зустріч скасовано.",

  "code.page_title": "Введіть код доступу – онлайн-консультація",
  "code.h1": "Онлайн-консультація",
  "code.title": "Введіть код доступу",
  "code.label": "Код доступу (9 цифр)",
  "code.help": "Код є у вашому запрошенні. Або його скаже вам ваш консультант.",
  "code.submit": "Далі",
  "code.nine": "Код доступу має 9 цифр. Будь ласка, перевірте, що ви ввели.",
  "code.checking": "Код перевіряється …",
  "code.home": "Назад на головну сторінку",
  "rate.question": "Наскільки ви задоволені розмовою? (необов'язково)",
  "rate.5": "дуже задоволені",
  "rate.4": "задоволені",
  "rate.3": "частково",
  "rate.2": "незадоволені",
  "rate.1": "дуже незадоволені",
  "rate.send": "Надіслати оцінку",
  "rate.choose": "Спочатку виберіть оцінку.",
  "rate.thanks": "Дякуємо за ваш відгук.",
});

// ------------------------------------------------------------------------------------------
// /t/<team>: the entry page for customers without an appointment (drop-ins). It reuses the
// consent and device-check texts above; these are its own.

register("de", {
  "dropin.page_title": "Beratung ohne Termin – Online-Beratung",
  "dropin.h1": "Beratung ohne Termin",
  "dropin.loading": "Die Seite wird geladen …",
  "dropin.bad_address":
    "Diese Adresse ist nicht vollständig. Bitte prüfen Sie den Link, den Sie vom Jobcenter bekommen haben.",
  "dropin.retry": "Noch einmal versuchen",

  "dropin.choose.title": "Mit dem Jobcenter sprechen",
  "dropin.choose.intro":
    "Hier sprechen Sie ohne Termin mit einer Beraterin oder einem Berater. Sie warten in einer Warteschlange, bis jemand frei ist.",
  "dropin.unstaffed":
    "Gerade ist niemand da. Sie können sich trotzdem anstellen und warten. Oder Sie kommen später wieder.",
  "dropin.language.legend": "In welcher Sprache möchten Sie sprechen?",
  "dropin.topic.legend": "Worum geht es?",
  "dropin.topic.missing": "Bitte wählen Sie ein Thema. Wenn keins passt: „Etwas anderes“.",
  "topic.benefits": "Geld / Bürgergeld",
  "topic.benefits.hint": "Antrag, Bescheid, Zahlung",
  "topic.placement": "Arbeit finden",
  "topic.placement.hint": "Stellen, Bewerbung, Weiterbildung",
  "topic.self_employed": "Selbstständigkeit",
  "topic.self_employed.hint": "Eigene Firma, Einkommen als Selbstständige",
  "topic.youth": "Unter 25",
  "topic.youth.hint": "Ausbildung, Schule, erste Arbeit",
  "topic.general": "Etwas anderes",
  "topic.general.hint": "Eine andere Frage",
  "dropin.next": "Weiter",

  "dropin.consent.intro":
    "Sie warten gleich auf eine Beraterin oder einen Berater vom Jobcenter. Bitte lesen Sie kurz:",
  "dropin.consent.queue":
    "Während Sie warten, merkt sich Ihr Browser Ihre Wartenummer. So behalten Sie Ihren Platz, wenn Sie die Seite neu laden. Die Nummer wird gelöscht, wenn das Gespräch beginnt oder Sie gehen.",
  "dropin.consent.missing": "Bitte setzen Sie zuerst den Haken.",

  "dropin.check.title": "Kamera und Mikrofon prüfen",
  "dropin.check.done": "Die Prüfung ist fertig. Sie können sich jetzt anstellen.",
  "dropin.mic.ok": "Mikrofon: gefunden.",
  "dropin.mode.phone":
    "Sie sprechen per Telefon. Wenn Sie dran sind, zeigt Ihnen diese Seite eine Telefonnummer und eine PIN.",
  "dropin.nowebrtc":
    "Ihr Browser kann keine Video-Gespräche. Sie können trotzdem warten. Wenn Sie dran sind, sprechen Sie per Telefon.",
  "dropin.queue": "In die Warteschlange",
  "dropin.queueing": "Einen Moment bitte …",

  "dropin.wait.title": "Sie sind in der Warteschlange",
  "dropin.position": "Sie sind an Position {n}.",
  "dropin.position.next": "Sie sind als Nächstes dran.",
  "dropin.estimate": "Geschätzte Wartezeit: etwa {time}.",
  "dropin.estimate.unknown": "Geschätzte Wartezeit: noch unbekannt.",
  "dropin.minutes": "{n} Min.",
  "dropin.nobody":
    "Gerade ist niemand da, der Ihnen helfen kann. Sie können trotzdem warten. Oder Sie kommen später wieder.",
  "dropin.wait.topic": "Ihr Thema: {topic}",
  "dropin.wait.keep_open": "Bitte lassen Sie diese Seite offen. Sie müssen nichts tun.",
  "dropin.wait.starts_here": "Wenn Sie dran sind, beginnt das Gespräch hier auf dieser Seite.",
  "dropin.wait.reload":
    "Ist die Seite aus Versehen zugegangen? Öffnen Sie sie gleich wieder. Dann behalten Sie Ihren Platz.",
  "dropin.leave": "Warteschlange verlassen",
  "dropin.answered": "Sie sind dran! Das Gespräch beginnt …",
  "dropin.dropped":
    "Die Verbindung ist unterbrochen. Neuer Versuch … Ihr Platz wird kurz für Sie freigehalten.",
  "dropin.resumed": "Willkommen zurück. Sie haben Ihren Platz behalten.",

  "dropin.left.title": "Sie haben die Warteschlange verlassen",
  "dropin.left.text": "Auf Wiedersehen! Sie können sich jederzeit wieder anstellen.",
  "dropin.expired.title": "Ihr Platz ist nicht mehr frei",
  "dropin.expired.text":
    "Die Seite war zu lange geschlossen. Oder Sie haben die Warteschlange in einem anderen Fenster verlassen. Sie können sich wieder anstellen.",
  "dropin.again": "Wieder anstellen",
  "dropin.other_topic": "Anderes Thema wählen",

  "dropin.error.rate_limited":
    "Von Ihrem Internet-Anschluss haben sich gerade viele angestellt. Bitte warten Sie eine Minute. Versuchen Sie es dann noch einmal.",
  "dropin.error.unavailable":
    "Die Beratung ohne Termin geht gerade nicht. Bitte versuchen Sie es später noch einmal.",
  "dropin.error.bad_request":
    "Das hat nicht geklappt. Bitte laden Sie die Seite neu und wählen Sie noch einmal.",
});

register("en", {
  "dropin.page_title": "Counselling without an appointment – online counselling",
  "dropin.h1": "Counselling without an appointment",
  "dropin.loading": "Loading the page …",
  "dropin.bad_address":
    "This address is not complete. Please check the link you got from the Jobcenter.",
  "dropin.retry": "Try again",

  "dropin.choose.title": "Talk to the Jobcenter",
  "dropin.choose.intro":
    "Here you can talk to a counsellor without an appointment. You wait in a queue until someone is free.",
  "dropin.unstaffed":
    "Nobody is available right now. You can still join the queue and wait. Or come back later.",
  "dropin.language.legend": "Which language do you want to speak?",
  "dropin.topic.legend": "What is it about?",
  "dropin.topic.missing": "Please choose a topic. If none fits: “Something else”.",
  "topic.benefits": "Money / citizen's benefit (Bürgergeld)",
  "topic.benefits.hint": "Application, decision letter, payment",
  "topic.placement": "Finding work",
  "topic.placement.hint": "Jobs, applications, training",
  "topic.self_employed": "Self-employment",
  "topic.self_employed.hint": "Your own business, income as self-employed",
  "topic.youth": "Under 25",
  "topic.youth.hint": "Vocational training, school, first job",
  "topic.general": "Something else",
  "topic.general.hint": "Another question",
  "dropin.next": "Continue",

  "dropin.consent.intro":
    "You will soon wait for a counsellor from the Jobcenter. Please read this first:",
  "dropin.consent.queue":
    "While you wait, your browser remembers your queue number. So you keep your place if you reload the page. The number is deleted when the conversation starts or when you leave.",
  "dropin.consent.missing": "Please tick the box first.",

  "dropin.check.title": "Check camera and microphone",
  "dropin.check.done": "The check is finished. You can join the queue now.",
  "dropin.mic.ok": "Microphone: found.",
  "dropin.mode.phone":
    "You will talk by phone. When it is your turn, this page shows you a phone number and a PIN.",
  "dropin.nowebrtc":
    "Your browser cannot do video calls. You can still wait. When it is your turn, you talk by phone.",
  "dropin.queue": "Join the queue",
  "dropin.queueing": "One moment please …",

  "dropin.wait.title": "You are in the queue",
  "dropin.position": "You are number {n} in the queue.",
  "dropin.position.next": "You are next.",
  "dropin.estimate": "Estimated waiting time: about {time}.",
  "dropin.estimate.unknown": "Estimated waiting time: not known yet.",
  "dropin.minutes": "{n} min",
  "dropin.nobody":
    "Right now nobody is available who can help you. You can still wait. Or come back later.",
  "dropin.wait.topic": "Your topic: {topic}",
  "dropin.wait.keep_open": "Please keep this page open. You do not have to do anything.",
  "dropin.wait.starts_here": "When it is your turn, the conversation starts here on this page.",
  "dropin.wait.reload":
    "Did the page close by mistake? Open it again soon. Then you keep your place.",
  "dropin.leave": "Leave the queue",
  "dropin.answered": "It is your turn! The conversation is starting …",
  "dropin.dropped":
    "The connection was interrupted. Trying again … Your place is kept for you for a short time.",
  "dropin.resumed": "Welcome back. You still have your place.",

  "dropin.left.title": "You have left the queue",
  "dropin.left.text": "Goodbye! You can join the queue again at any time.",
  "dropin.expired.title": "Your place is no longer kept",
  "dropin.expired.text":
    "The page was closed for too long. Or you left the queue in another window. You can join the queue again.",
  "dropin.again": "Join the queue again",
  "dropin.other_topic": "Choose another topic",

  "dropin.error.rate_limited":
    "Many people from your internet connection have just joined the queue. Please wait a minute. Then try again.",
  "dropin.error.unavailable":
    "Counselling without an appointment is not possible right now. Please try again later.",
  "dropin.error.bad_request": "That did not work. Please reload the page and choose again.",
});

register("tr", {
  "dropin.page_title": "Randevusuz danışmanlık – Online danışmanlık",
  "dropin.h1": "Randevusuz danışmanlık",
  "dropin.loading": "Sayfa yükleniyor …",
  "dropin.bad_address":
    "Bu adres eksik. Lütfen Jobcenter'dan aldığınız bağlantıyı kontrol edin.",
  "dropin.retry": "Tekrar dene",

  "dropin.choose.title": "Jobcenter ile konuşun",
  "dropin.choose.intro":
    "Burada randevu olmadan bir danışmanla konuşabilirsiniz. Biri boşalana kadar sırada beklersiniz.",
  "dropin.unstaffed":
    "Şu anda kimse yok. Yine de sıraya girip bekleyebilirsiniz. Ya da daha sonra tekrar gelin.",
  "dropin.language.legend": "Hangi dilde konuşmak istiyorsunuz?",
  "dropin.topic.legend": "Konu nedir?",
  "dropin.topic.missing": "Lütfen bir konu seçin. Hiçbiri uymuyorsa: „Başka bir konu“.",
  "topic.benefits": "Para / Vatandaşlık parası (Bürgergeld)",
  "topic.benefits.hint": "Başvuru, karar yazısı, ödeme",
  "topic.placement": "İş bulmak",
  "topic.placement.hint": "İş ilanları, başvuru, kurslar",
  "topic.self_employed": "Serbest çalışma",
  "topic.self_employed.hint": "Kendi işiniz, serbest çalışan olarak gelir",
  "topic.youth": "25 yaş altı",
  "topic.youth.hint": "Meslek eğitimi, okul, ilk iş",
  "topic.general": "Başka bir konu",
  "topic.general.hint": "Başka bir soru",
  "dropin.next": "Devam",

  "dropin.consent.intro":
    "Birazdan Jobcenter'dan bir danışmanı bekleyeceksiniz. Lütfen önce bunu okuyun:",
  "dropin.consent.queue":
    "Beklerken tarayıcınız sıra numaranızı hatırlar. Böylece sayfayı yeniden yüklerseniz yerinizi kaybetmezsiniz. Numara, görüşme başlayınca ya da siz ayrılınca silinir.",
  "dropin.consent.missing": "Lütfen önce kutuyu işaretleyin.",

  "dropin.check.title": "Kamera ve mikrofonu kontrol edin",
  "dropin.check.done": "Kontrol bitti. Şimdi sıraya girebilirsiniz.",
  "dropin.mic.ok": "Mikrofon: bulundu.",
  "dropin.mode.phone":
    "Telefonla konuşacaksınız. Sıra size gelince bu sayfa size bir telefon numarası ve bir PIN gösterir.",
  "dropin.nowebrtc":
    "Tarayıcınız görüntülü görüşme yapamıyor. Yine de bekleyebilirsiniz. Sıra size gelince telefonla konuşursunuz.",
  "dropin.queue": "Sıraya gir",
  "dropin.queueing": "Bir dakika lütfen …",

  "dropin.wait.title": "Sıradasınız",
  "dropin.position": "Sıradaki yeriniz: {n}.",
  "dropin.position.next": "Sıradaki sizsiniz.",
  "dropin.estimate": "Tahmini bekleme süresi: yaklaşık {time}.",
  "dropin.estimate.unknown": "Tahmini bekleme süresi: henüz bilinmiyor.",
  "dropin.minutes": "{n} dk.",
  "dropin.nobody":
    "Şu anda size yardım edebilecek kimse yok. Yine de bekleyebilirsiniz. Ya da daha sonra tekrar gelin.",
  "dropin.wait.topic": "Konunuz: {topic}",
  "dropin.wait.keep_open": "Lütfen bu sayfayı açık bırakın. Bir şey yapmanız gerekmiyor.",
  "dropin.wait.starts_here": "Sıra size gelince görüşme burada, bu sayfada başlar.",
  "dropin.wait.reload":
    "Sayfa yanlışlıkla mı kapandı? Hemen tekrar açın. O zaman yerinizi kaybetmezsiniz.",
  "dropin.leave": "Sıradan çık",
  "dropin.answered": "Sıra sizde! Görüşme başlıyor …",
  "dropin.dropped":
    "Bağlantı kesildi. Tekrar deneniyor … Yeriniz kısa bir süre sizin için tutulur.",
  "dropin.resumed": "Tekrar hoş geldiniz. Yeriniz duruyor.",

  "dropin.left.title": "Sıradan çıktınız",
  "dropin.left.text": "Hoşça kalın! İstediğiniz zaman tekrar sıraya girebilirsiniz.",
  "dropin.expired.title": "Yeriniz artık tutulmuyor",
  "dropin.expired.text":
    "Sayfa çok uzun süre kapalı kaldı. Ya da başka bir pencerede sıradan çıktınız. Tekrar sıraya girebilirsiniz.",
  "dropin.again": "Tekrar sıraya gir",
  "dropin.other_topic": "Başka bir konu seç",

  "dropin.error.rate_limited":
    "İnternet bağlantınızdan az önce çok kişi sıraya girdi. Lütfen bir dakika bekleyin. Sonra tekrar deneyin.",
  "dropin.error.unavailable":
    "Randevusuz danışmanlık şu anda mümkün değil. Lütfen daha sonra tekrar deneyin.",
  "dropin.error.bad_request":
    "Bu olmadı. Lütfen sayfayı yeniden yükleyin ve tekrar seçin.",
});

register("ar", {
  "dropin.page_title": "استشارة بدون موعد – استشارة عبر الإنترنت",
  "dropin.h1": "استشارة بدون موعد",
  "dropin.loading": "جارٍ تحميل الصفحة …",
  "dropin.bad_address":
    "هذا العنوان غير كامل. من فضلك تحقق من الرابط الذي حصلت عليه من مركز العمل (Jobcenter).",
  "dropin.retry": "المحاولة مرة أخرى",

  "dropin.choose.title": "التحدث مع مركز العمل",
  "dropin.choose.intro":
    "هنا يمكنك التحدث مع مستشار أو مستشارة بدون موعد. تنتظر في قائمة الانتظار حتى يصبح أحدهم متاحاً.",
  "dropin.unstaffed":
    "لا يوجد أحد متاح الآن. يمكنك مع ذلك الدخول في قائمة الانتظار والانتظار. أو عُد لاحقاً.",
  "dropin.language.legend": "بأي لغة تريد أن تتحدث؟",
  "dropin.topic.legend": "ما هو الموضوع؟",
  "dropin.topic.missing": "من فضلك اختر موضوعاً. إذا لم يناسبك أي موضوع: «شيء آخر».",
  "topic.benefits": "المال / إعانة المواطن (Bürgergeld)",
  "topic.benefits.hint": "الطلب، القرار، الدفع",
  "topic.placement": "إيجاد عمل",
  "topic.placement.hint": "الوظائف، طلبات التوظيف، الدورات التدريبية",
  "topic.self_employed": "العمل الحر",
  "topic.self_employed.hint": "شركتك الخاصة، الدخل من العمل الحر",
  "topic.youth": "أقل من 25 سنة",
  "topic.youth.hint": "التدريب المهني، المدرسة، أول عمل",
  "topic.general": "شيء آخر",
  "topic.general.hint": "سؤال آخر",
  "dropin.next": "متابعة",

  "dropin.consent.intro":
    "ستنتظر بعد قليل مستشاراً أو مستشارة من مركز العمل (Jobcenter). من فضلك اقرأ هذا أولاً:",
  "dropin.consent.queue":
    "أثناء الانتظار يحفظ المتصفح رقم انتظارك. هكذا تحتفظ بمكانك إذا أعدت تحميل الصفحة. يُحذف الرقم عندما تبدأ المحادثة أو عندما تغادر.",
  "dropin.consent.missing": "من فضلك ضع علامة في المربع أولاً.",

  "dropin.check.title": "فحص الكاميرا والميكروفون",
  "dropin.check.done": "انتهى الفحص. يمكنك الآن الدخول في قائمة الانتظار.",
  "dropin.mic.ok": "الميكروفون: موجود.",
  "dropin.mode.phone":
    "ستتحدث بالهاتف. عندما يأتي دورك، تعرض لك هذه الصفحة رقم هاتف ورقماً سرياً (PIN).",
  "dropin.nowebrtc":
    "متصفحك لا يدعم مكالمات الفيديو. يمكنك مع ذلك الانتظار. عندما يأتي دورك، تتحدث بالهاتف.",
  "dropin.queue": "الدخول في قائمة الانتظار",
  "dropin.queueing": "لحظة من فضلك …",

  "dropin.wait.title": "أنت في قائمة الانتظار",
  "dropin.position": "دورك في القائمة: رقم {n}.",
  "dropin.position.next": "أنت التالي.",
  "dropin.estimate": "مدة الانتظار المتوقعة: حوالي {time}.",
  "dropin.estimate.unknown": "مدة الانتظار المتوقعة: غير معروفة بعد.",
  "dropin.minutes": "{n} دقيقة",
  "dropin.nobody":
    "لا يوجد الآن أحد يمكنه مساعدتك. يمكنك مع ذلك الانتظار. أو عُد لاحقاً.",
  "dropin.wait.topic": "موضوعك: {topic}",
  "dropin.wait.keep_open": "من فضلك اترك هذه الصفحة مفتوحة. لا تحتاج إلى فعل شيء.",
  "dropin.wait.starts_here": "عندما يأتي دورك، تبدأ المحادثة هنا في هذه الصفحة.",
  "dropin.wait.reload": "هل أُغلقت الصفحة بالخطأ؟ افتحها مرة أخرى بسرعة. هكذا تحتفظ بمكانك.",
  "dropin.leave": "مغادرة قائمة الانتظار",
  "dropin.answered": "جاء دورك! تبدأ المحادثة الآن …",
  "dropin.dropped": "انقطع الاتصال. نحاول مرة أخرى … مكانك محجوز لك لوقت قصير.",
  "dropin.resumed": "أهلاً بعودتك. ما زلت تحتفظ بمكانك.",

  "dropin.left.title": "لقد غادرت قائمة الانتظار",
  "dropin.left.text": "مع السلامة! يمكنك الدخول في قائمة الانتظار مرة أخرى في أي وقت.",
  "dropin.expired.title": "مكانك لم يعد محجوزاً",
  "dropin.expired.text":
    "كانت الصفحة مغلقة لمدة طويلة. أو غادرت قائمة الانتظار في نافذة أخرى. يمكنك الدخول في قائمة الانتظار مرة أخرى.",
  "dropin.again": "الدخول في قائمة الانتظار مرة أخرى",
  "dropin.other_topic": "اختيار موضوع آخر",

  "dropin.error.rate_limited":
    "دخل أشخاص كثيرون من اتصال الإنترنت نفسه في قائمة الانتظار قبل قليل. من فضلك انتظر دقيقة. ثم حاول مرة أخرى.",
  "dropin.error.unavailable": "الاستشارة بدون موعد غير ممكنة الآن. من فضلك حاول لاحقاً.",
  "dropin.error.bad_request": "لم ينجح ذلك. من فضلك أعد تحميل الصفحة واختر مرة أخرى.",
});

register("uk", {
  "dropin.page_title": "Консультація без запису – онлайн-консультація",
  "dropin.h1": "Консультація без запису",
  "dropin.loading": "Сторінка завантажується …",
  "dropin.bad_address":
    "Ця адреса неповна. Будь ласка, перевірте посилання, яке ви отримали від Jobcenter.",
  "dropin.retry": "Спробувати ще раз",

  "dropin.choose.title": "Поговорити з Jobcenter",
  "dropin.choose.intro":
    "Тут ви можете без запису поговорити з консультантом або консультанткою. Ви чекаєте в черзі, поки хтось звільниться.",
  "dropin.unstaffed":
    "Зараз нікого немає. Ви все одно можете стати в чергу і чекати. Або приходьте пізніше.",
  "dropin.language.legend": "Якою мовою ви хочете говорити?",
  "dropin.topic.legend": "Про що йдеться?",
  "dropin.topic.missing": "Будь ласка, виберіть тему. Якщо жодна не підходить: «Щось інше».",
  "topic.benefits": "Гроші / Bürgergeld (допомога)",
  "topic.benefits.hint": "Заява, рішення (Bescheid), виплата",
  "topic.placement": "Знайти роботу",
  "topic.placement.hint": "Вакансії, заявки на роботу, навчання",
  "topic.self_employed": "Самозайнятість",
  "topic.self_employed.hint": "Власна справа, дохід як самозайняті",
  "topic.youth": "До 25 років",
  "topic.youth.hint": "Професійне навчання, школа, перша робота",
  "topic.general": "Щось інше",
  "topic.general.hint": "Інше питання",
  "dropin.next": "Далі",

  "dropin.consent.intro":
    "Зараз ви будете чекати на консультанта або консультантку з Jobcenter. Будь ласка, спочатку прочитайте:",
  "dropin.consent.queue":
    "Поки ви чекаєте, браузер запам'ятовує ваш номер у черзі. Так ви зберігаєте своє місце, якщо оновите сторінку. Номер видаляється, коли починається розмова або коли ви виходите.",
  "dropin.consent.missing": "Будь ласка, спочатку поставте позначку.",

  "dropin.check.title": "Перевірка камери і мікрофона",
  "dropin.check.done": "Перевірку завершено. Тепер ви можете стати в чергу.",
  "dropin.mic.ok": "Мікрофон: знайдено.",
  "dropin.mode.phone":
    "Ви будете говорити телефоном. Коли настане ваша черга, ця сторінка покаже вам номер телефону і PIN.",
  "dropin.nowebrtc":
    "Ваш браузер не підтримує відеодзвінки. Ви все одно можете чекати. Коли настане ваша черга, ви будете говорити телефоном.",
  "dropin.queue": "Стати в чергу",
  "dropin.queueing": "Хвилинку, будь ласка …",

  "dropin.wait.title": "Ви в черзі",
  "dropin.position": "Ваше місце в черзі: {n}.",
  "dropin.position.next": "Ви наступні.",
  "dropin.estimate": "Орієнтовний час очікування: приблизно {time}.",
  "dropin.estimate.unknown": "Орієнтовний час очікування: поки невідомо.",
  "dropin.minutes": "{n} хв",
  "dropin.nobody":
    "Зараз немає нікого, хто може вам допомогти. Ви все одно можете чекати. Або приходьте пізніше.",
  "dropin.wait.topic": "Ваша тема: {topic}",
  "dropin.wait.keep_open": "Будь ласка, не закривайте цю сторінку. Вам нічого не треба робити.",
  "dropin.wait.starts_here": "Коли настане ваша черга, розмова почнеться тут, на цій сторінці.",
  "dropin.wait.reload":
    "Сторінка випадково закрилася? Швидко відкрийте її знову. Тоді ви збережете своє місце.",
  "dropin.leave": "Вийти з черги",
  "dropin.answered": "Ваша черга! Розмова починається …",
  "dropin.dropped":
    "З'єднання перервано. Нова спроба … Ваше місце ненадовго зберігається за вами.",
  "dropin.resumed": "З поверненням. Ваше місце збережено.",

  "dropin.left.title": "Ви вийшли з черги",
  "dropin.left.text": "До побачення! Ви можете знову стати в чергу будь-коли.",
  "dropin.expired.title": "Ваше місце більше не зберігається",
  "dropin.expired.text":
    "Сторінка була закрита занадто довго. Або ви вийшли з черги в іншому вікні. Ви можете знову стати в чергу.",
  "dropin.again": "Знову стати в чергу",
  "dropin.other_topic": "Вибрати іншу тему",

  "dropin.error.rate_limited":
    "З вашого інтернет-підключення щойно багато людей стали в чергу. Будь ласка, зачекайте хвилину. Потім спробуйте ще раз.",
  "dropin.error.unavailable":
    "Консультація без запису зараз неможлива. Будь ласка, спробуйте пізніше.",
  "dropin.error.bad_request":
    "Не вдалося. Будь ласка, оновіть сторінку і виберіть ще раз.",
});
